// The engine (src/core) knows no framework and no shell: no Fastify, nothing
// of the HTTP apps, the CLI or the process wiring. The shells import it,
// never the other way round.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/core/config.js';

const CORE = path.join(PACKAGE_ROOT, 'src', 'core');
const files = (readdirSync(CORE, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
const imports = (text: string) => [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);

describe('src/core', () => {
  it('has the engine in it', () => {
    expect(files).toEqual(
      expect.arrayContaining(['fields.ts', 'customer.ts', 'errors.ts', 'ingest/service.ts', 'ingest/loader.ts', 'db/database.ts']),
    );
  });

  it.each(files)('%s imports no framework and no shell', (file) => {
    const full = path.join(CORE, file);
    for (const spec of imports(readFileSync(full, 'utf8'))) {
      expect(spec, `${file} imports ${spec}`).not.toMatch(/^(fastify|@fastify\/)/);
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(full), spec);
        expect(target.startsWith(CORE + path.sep), `${file} imports ${spec}, outside src/core`).toBe(true);
      }
    }
  });
});
