import { defineErrors } from '../core/errors.ts';

export const dnsErrors = defineErrors({
  ERR_DNS_BAD_CONFIG:
    'the dns: section refers to something the topology does not have (e.g. an NS name glued to an unknown zone)',
  ERR_DNS_NEXT_TWICE: 'a DNS stage called next() more than once for one query (a programming error)',
});
