import { defineErrors } from '../core/errors.ts';

/** Errors of a zone's process as a whole (what it starts besides multizone's own planes). */
export const runtimeErrors = defineErrors({
  ERR_RUNTIME_APP_START:
    'an app multizone starts itself (zones.<z>.app.command) exited or did not answer its health path in time at startup (the end of its log is in the message)',
});
