import { defineErrors } from '../core/errors.ts';

export const controlErrors = defineErrors({
  ERR_CONTROL_BAD_REQUEST: 'a control API request is missing a parameter or has an invalid one',
  ERR_CONTROL_NOT_FOUND: 'no control API route matches the path',
});
