import { defineErrors } from '../core/errors.ts';

export const sdkErrors = defineErrors({
  ERR_SDK_INVALID_OPTION: 'createResolver (or a connection helper) was given an option outside its contract',
  ERR_SDK_UNRESOLVED: 'neither HTTPDNS nor the system resolver gave an address for the host',
  ERR_SDK_BAD_ANSWER: 'an HTTPDNS server answered something that is not a valid /d answer',
  ERR_SDK_HTTP: 'an HTTPDNS server answered with an HTTP error status, or could not be reached in time',
});
