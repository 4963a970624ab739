import { defineErrors } from '../core/errors.ts';

/** The CLI's own codes (the planes' codes pass through as they are). */
export const cliErrors = defineErrors({
  ERR_CLI_USAGE: 'a command was used wrongly: an unknown option, a missing or invalid argument (exit 64)',
  ERR_CLI_CONTROL_UNREACHABLE:
    'the control API of a running cluster could not be reached at the URL tried; start one (multizone up) or point elsewhere with --control URL or --config FILE',
  ERR_CLI_EDGE_UNREACHABLE: 'an edge’s admin API could not be reached at the URL given with --edge',
  ERR_CLI_EDGE_REFUSED: 'an edge’s admin API refused a call; its reason (the edge’s error code and message) is shown',
  ERR_CLI_NO_TOKEN:
    'no admin token: none given with --token, in MULTIZONE_ADMIN_TOKEN or MZ_EDGE_TOKEN, nor in the admin-token file the message names',
  ERR_CLI_NOT_A_DIR: 'the folder a command was given does not exist or is not a folder',
});
