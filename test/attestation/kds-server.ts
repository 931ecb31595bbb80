// Test helper: an AMD KDS-compatible server on 127.0.0.1 (plain HTTP, as an in-cluster KDS cache may be)
// answering GET /vcek/v1/{product}/{hwid}?… from `vceks`, keyed by the exact path and query AMD's
// interface uses; anything else is 404. Every request is recorded.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Kds {
  url: string;
  /** DER VCEKs by "/vcek/v1/<product>/<hwid>?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…", and CRLs by "/vcek/v1/<product>/crl". */
  vceks: Map<string, Uint8Array>;
  requests: string[];
  close(): Promise<void>;
}

export async function startKds(): Promise<Kds> {
  const vceks = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const der = req.method === 'GET' ? vceks.get(req.url ?? '') : undefined;
    if (!der) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/pkix-cert' });
    res.end(Buffer.from(der));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    vceks,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
