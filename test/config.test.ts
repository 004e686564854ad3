import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, PACKAGE_ROOT, SETTINGS, sourceUrl } from '../src/core/config.js';

describe('settings', () => {
  it('has a working default for every setting', () => {
    const cfg = loadConfig({});
    expect(cfg).toMatchObject({ http: { mockPort: 5000, pipelinePort: 8000 }, database: { url: null }, ingest: { concurrency: 4 } });
    expect(sourceUrl(cfg)).toBe('http://127.0.0.1:5000');
  });

  it('takes a PostgreSQL memory size for INGEST_WORK_MEM', () => {
    expect(loadConfig({}).ingest.workMem).toBe('64MB');
    expect(loadConfig({ INGEST_WORK_MEM: ' 512kB ' }).ingest.workMem).toBe('512kB');
    expect(loadConfig({ INGEST_WORK_MEM: '1GB' }).ingest.workMem).toBe('1GB');
  });

  it('reads values from the environment', () => {
    const cfg = loadConfig({ PIPELINE_PORT: '8080', DATABASE_URL: 'postgresql://u@db:5432/x', MOCK_SERVER_URL: 'http://mock:5000/' });
    expect(cfg).toMatchObject({
      http: { pipelinePort: 8080 },
      database: { url: 'postgresql://u@db:5432/x' },
      source: { url: 'http://mock:5000' },
    });
    expect(sourceUrl(cfg)).toBe('http://mock:5000');
  });

  it('groups every setting under one key of one group', () => {
    const cfg = loadConfig({});
    const seen = new Set<string>();
    for (const [name, { group, key }] of Object.entries(SETTINGS)) {
      expect(seen.has(`${group}.${key}`), `${name} reuses ${group}.${key}`).toBe(false);
      seen.add(`${group}.${key}`);
      expect(cfg[group], name).toHaveProperty(key);
    }
    expect(Object.keys(cfg).sort()).toEqual(['database', 'http', 'ingest', 'log', 'mock', 'security', 'source']);
  });

  it('decides the source URL: MOCK_SERVER_URL, else the local mock as it listens, else MOCK_PORT on this machine', () => {
    expect(sourceUrl(loadConfig({ MOCK_PORT: '0' }), 'http://127.0.0.1:40123')).toBe('http://127.0.0.1:40123');
    expect(sourceUrl(loadConfig({ MOCK_PORT: '5001' }))).toBe('http://127.0.0.1:5001');
    expect(sourceUrl(loadConfig({ MOCK_SERVER_URL: 'https://source.example.com' }), 'http://127.0.0.1:40123')).toBe(
      'https://source.example.com',
    );
  });

  it.each([
    ['MOCK_PORT', 'abc', /MOCK_PORT must be a whole number/],
    ['PIPELINE_PORT', '70000', /PIPELINE_PORT must be between 0 and 65535/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
    ['MOCK_SERVER_URL', 'not a url', /MOCK_SERVER_URL must be a URL/],
    ['INGEST_CONCURRENCY', '0', /INGEST_CONCURRENCY must be between 1 and 64/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['INGEST_WORK_MEM', '64', /INGEST_WORK_MEM must be a PostgreSQL memory size from 64kB to 2GB/],
    ['INGEST_WORK_MEM', '3GB', /INGEST_WORK_MEM must be a PostgreSQL memory size/],
    ['INGEST_WORK_MEM', "64MB'; DROP TABLE customers; --", /INGEST_WORK_MEM must be a PostgreSQL memory size/],
  ])('stops on a bad %s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('is documented: every setting is in the README and .env.example', () => {
    const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const example = readFileSync(path.join(PACKAGE_ROOT, '.env.example'), 'utf8');
    for (const name of Object.keys(SETTINGS)) {
      expect(readme, name).toContain(`\`${name}\``);
      expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'));
    }
  });
});
