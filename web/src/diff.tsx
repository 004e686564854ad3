// A customer's change as a diff: each field before → after, the fields the
// change set names highlighted. Used by a run's change set (changes.tsx) and a
// customer's history (customer.tsx).
import type { ComponentChildren } from 'preact';
import type { ChangeField, ChangeKind, Customer } from './api';
import { balance } from './format';

/** The record's fields in the API's order, with their labels and how a value reads. */
export const FIELDS: { key: keyof Customer; label: string; show?: (c: Customer) => string | null }[] = [
  { key: 'customer_id', label: 'Customer id' },
  { key: 'first_name', label: 'First name' },
  { key: 'last_name', label: 'Last name' },
  { key: 'email', label: 'Email' },
  { key: 'phone', label: 'Phone' },
  { key: 'address', label: 'Address' },
  { key: 'date_of_birth', label: 'Date of birth' },
  { key: 'account_balance', label: 'Account balance', show: (c) => (c.account_balance === null ? null : balance(c.account_balance)) },
  // As the source gave it: a date and time without a time zone.
  { key: 'created_at', label: 'Created', show: (c) => c.created_at?.replace('T', ' ') ?? null },
];

export function fieldValue(c: Customer, key: keyof Customer): string | null {
  const f = FIELDS.find((x) => x.key === key)!;
  return f.show ? f.show(c) : (c[key] as string | null);
}

function Value({ c, k }: { c: Customer; k: keyof Customer }) {
  const v = fieldValue(c, k);
  return v === null ? <span class="muted">none</span> : <>{v}</>;
}

export function ChangeTag({ change }: { change: ChangeKind }) {
  return <span class={`tag change-${change}`}>{change === 'insert' ? 'inserted' : change === 'update' ? 'updated' : 'deleted'}</span>;
}

/**
 * The change's fields: an update's changed fields before → after (every field
 * with `all`, the unchanged ones plain); an insert's record as it came in, a
 * delete's as it was, the fields the change names highlighted.
 */
export function Diff(props: { change: ChangeKind; fields: ChangeField[]; before: Customer | null; after: Customer | null; all: boolean }) {
  const { change, fields, before, after } = props;
  const changed = new Set<string>(fields);
  const image = change === 'delete' ? before : after;
  const rows = FIELDS.filter((f) => f.key !== 'customer_id' && (props.all || change !== 'update' || changed.has(f.key)));
  const cell = (children: ComponentChildren, cls: string) => <td class={cls}>{children}</td>;
  return (
    <table class={`diff diff-${change}`}>
      <tbody>
        {rows.map((f) => {
          const hit = changed.has(f.key);
          return (
            <tr key={f.key} class={hit ? 'changed' : 'same'} data-field={f.key}>
              <th scope="row">{f.label}</th>
              {change === 'update' && before && after ? (
                hit ? (
                  <>
                    {cell(<Value c={before} k={f.key} />, 'before')}
                    {cell(<Value c={after} k={f.key} />, 'after')}
                  </>
                ) : (
                  <td colSpan={2} class="both">
                    <Value c={after} k={f.key} />
                  </td>
                )
              ) : (
                image && cell(<Value c={image} k={f.key} />, change === 'delete' ? 'before' : 'after')
              )}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
