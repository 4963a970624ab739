import { defineErrors } from '../core/errors.ts';

export const controlErrors = defineErrors({
  ERR_CONTROL_BAD_REQUEST: 'a control API request is missing a parameter or has an invalid one',
  ERR_CONTROL_NOT_FOUND: 'no control API route matches the path',
  ERR_CONTROL_METHOD_NOT_ALLOWED:
    'the control API path exists but not with this method; the Allow header lists the methods it takes',
  ERR_CONTROL_UNAUTHORIZED:
    'a POST from a browser (one that sends an Origin header) did not present the admin token as authorization: Bearer <token>, or a call marked as forwarded from another process’s control API was not signed with the cluster secret',
  ERR_CONTROL_BUSY: 'the control API is already doing this (a drill is running); wait for it to finish',
  ERR_CONTROL_PEER_UNAVAILABLE:
    'another process of the cluster (distributed mode) did not answer a call this control API forwarded to it: its part of the answer is missing',
  ERR_CONTROL_BODY_TOO_LARGE: 'a control API request body is over the route’s limit (64 KiB for most routes)',
});
