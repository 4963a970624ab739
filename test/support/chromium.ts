import { existsSync } from 'node:fs';

/** Debian's chromium, driven by playwright-core (browsers cannot be downloaded here). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the browser tests keep their screenshots (CI artifacts). */
export const SHOTS = 'test-artifacts/console';
/** Without it the browser tests skip on a user's machine; in CI they must run. */
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true')
  throw new Error(`browser tests: no Chromium at ${CHROMIUM} (CI must have the Debian package chromium)`);
