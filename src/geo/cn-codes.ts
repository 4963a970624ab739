/**
 * Stable ids for what ip2region names in Chinese: ISO 3166-2:CN province codes and carrier ids.
 * The ids are what topology files and metrics use; the Chinese names never leave src/geo.
 */
export const CN_PROVINCES: Readonly<Record<string, string>> = {
  'CN-BJ': '北京',
  'CN-TJ': '天津',
  'CN-HE': '河北',
  'CN-SX': '山西',
  'CN-NM': '内蒙古',
  'CN-LN': '辽宁',
  'CN-JL': '吉林',
  'CN-HL': '黑龙江',
  'CN-SH': '上海',
  'CN-JS': '江苏',
  'CN-ZJ': '浙江',
  'CN-AH': '安徽',
  'CN-FJ': '福建',
  'CN-JX': '江西',
  'CN-SD': '山东',
  'CN-HA': '河南',
  'CN-HB': '湖北',
  'CN-HN': '湖南',
  'CN-GD': '广东',
  'CN-GX': '广西',
  'CN-HI': '海南',
  'CN-CQ': '重庆',
  'CN-SC': '四川',
  'CN-GZ': '贵州',
  'CN-YN': '云南',
  'CN-XZ': '西藏',
  'CN-SN': '陕西',
  'CN-GS': '甘肃',
  'CN-QH': '青海',
  'CN-NX': '宁夏',
  'CN-XJ': '新疆',
  'CN-TW': '台湾',
  'CN-HK': '香港',
  'CN-MO': '澳门',
};

/** Every province code steering rules may name. */
export const PROVINCE_CODES: readonly string[] = Object.keys(CN_PROVINCES);

const byPrefix = Object.entries(CN_PROVINCES).map(([code, name]) => [name, code] as const);

/** '广东省' → 'CN-GD'; unknown or empty → null. */
export function provinceCode(name: string): string | null {
  if (!name) return null;
  for (const [n, code] of byPrefix) if (name.startsWith(n)) return code;
  return null;
}

/** Carrier ids, with the Chinese fragments that identify them (order matters: first match wins). */
const ISP_PATTERNS: readonly (readonly [string, string])[] = [
  ['电信', 'telecom'],
  ['联通', 'unicom'],
  ['网通', 'unicom'],
  ['移动', 'mobile'],
  ['铁通', 'mobile'],
  ['广电', 'cbn'],
  ['教育网', 'cernet'],
  ['鹏博士', 'drpeng'],
  ['长城宽带', 'drpeng'],
  ['阿里', 'aliyun'],
  ['腾讯', 'tencent'],
  ['华为', 'huawei'],
];

/** Every carrier id steering rules may name. */
export const ISP_IDS: readonly string[] = [...new Set([...ISP_PATTERNS.map(([, id]) => id), 'other'])];

/** '中国电信CTNET网络' → 'telecom'; '' → null; anything else → 'other'. */
export function ispId(name: string): string | null {
  if (!name) return null;
  for (const [frag, id] of ISP_PATTERNS) if (name.includes(frag)) return id;
  return 'other';
}

/** Regions of China whose ip2region country is 中国 but whose ISO country differs. */
export const SPECIAL_COUNTRY: Readonly<Record<string, string>> = { 'CN-TW': 'TW', 'CN-HK': 'HK', 'CN-MO': 'MO' };
