// An instant as the browser's local time with its UTC offset; the UTC instant
// and the zone's name in the title.
import { localParts, zoneName } from './format';

export function Time({ iso }: { iso: string | null }) {
  if (!iso) return <>—</>;
  const p = localParts(iso);
  return (
    <time dateTime={iso} title={`${iso.replace('T', ' ').replace('Z', ' UTC')} · shown in ${zoneName()}`}>
      <span class="date">{p.date}</span>{' '}
      <span class="clock">
        {p.time} {p.zone}
      </span>
    </time>
  );
}
