/**
 * Which addresses an image URL fetch may connect to. Loopback, private, link-local, carrier-grade
 * NAT, multicast, reserved and unspecified addresses (IPv4, IPv6, and IPv4 inside IPv6) are refused
 * unless --url-fetch-allow names the host or a range holding the address. The check runs on the
 * addresses a name resolves to, at connect time (the lookup of the connection), so a DNS name
 * pointing inward is refused as the literal address would be.
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';

const INWARD_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
];
const INWARD_V6 = ['::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8'];

function rangeList(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [address, bits] = range.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(address, bits === undefined ? (type === 'ipv6' ? 128 : 32) : Number(bits), type);
  }
  return list;
}

const INWARD = rangeList([...INWARD_V4, ...INWARD_V6]);

/** The IPv4 address inside an IPv4-mapped or -compatible IPv6 address (::ffff:127.0.0.1, ::ffff:7f00:1, ::7f00:1), else the address. */
export function unmapped(address: string): string {
  if (isIP(address) !== 6) return address;
  // The URL parser writes every IPv6 address in one canonical form: the embedded IPv4 as two hex groups.
  const m = /^\[::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(new URL(`http://[${address}]`).hostname);
  if (!m) return address;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export class UrlFetchPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges: BlockList;

  /** `allow`: the --url-fetch-allow list, host names and addresses or CIDR ranges, comma-separated. */
  constructor(allow: string | null) {
    const ranges: string[] = [];
    for (const entry of (allow ?? '')
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean)) {
      const address = entry.split('/')[0].replace(/^\[|\]$/g, '');
      if (isIP(address)) ranges.push(entry.replace(/^\[|\](?=\/|$)/g, ''));
      else this.hosts.add(entry);
    }
    this.ranges = rangeList(ranges);
  }

  /** Whether a connection to `address` (resolved from `host`) is permitted. */
  permits(address: string, host: string): boolean {
    if (this.hosts.has(host.toLowerCase())) return true;
    const plain = unmapped(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
    const type = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
    if (this.ranges.check(plain, type)) return true;
    return !INWARD.check(plain, type);
  }

  /** A connection lookup that refuses inward addresses: every address a name resolves to must be permitted. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return (callback as (e: Error) => void)(error);
      if (addresses.some((a) => !this.permits(a.address, hostname))) return (callback as (e: Error) => void)(new RefusedAddress(hostname));
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** The policy refused where a URL points. */
export class RefusedAddress extends Error {
  readonly code = 'EREFUSEDADDRESS';
  constructor(readonly host: string) {
    super(`${host} is a loopback, private, link-local or otherwise internal address`);
  }
}
