/** host:port with IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Where a client on this machine reaches a server bound to `hostname`: the wildcard addresses mean loopback. */
export function reachableHostPort(hostname: string, port: number): string {
  return hostPort(hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname, port);
}
