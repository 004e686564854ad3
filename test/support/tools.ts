// Tests that need a tool outside Node.js and npm (Debian's docker-compose,
// Chromium) skip with a one-line reason where it is missing, so `npm test`
// passes on a machine with only Node.js and npm. `.ci/run` installs the tools
// and sets REQUIRE_TEST_TOOLS=1, which turns such a skip into a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const TOOLS_REQUIRED = process.env.REQUIRE_TEST_TOOLS === '1';

/**
 * True when the tests that need `tool` must skip (it is missing and not
 * required). Throws, failing the test file, when it is missing and required.
 */
export function skipWithout(tool: string, present: boolean, install: string): boolean {
  if (present) return false;
  if (TOOLS_REQUIRED) throw new Error(`${tool} is missing (${install}); REQUIRE_TEST_TOOLS=1 makes it mandatory`);
  process.stderr.write(`skipped: the tests that need ${tool}, which is missing (${install})\n`);
  return true;
}

export function onPath(command: string): string | null {
  const res = spawnSync('/bin/sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const found = res.stdout.trim();
  return res.status === 0 && found ? found : null;
}

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, which the dashboard's browser tests drive with playwright-core. */
export const withoutChromium = () => skipWithout('Chromium', existsSync(CHROMIUM), 'apt-get install --no-install-recommends chromium');

/** Debian's docker-compose, with which the Compose file and build context are validated offline. */
export const withoutDockerCompose = () =>
  skipWithout('docker-compose', onPath('docker-compose') !== null, 'apt-get install --no-install-recommends docker-compose');
