import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { InstallerCheck, InstallerFact } from './plan';

/**
 * Checks made from the installer machine, as a user would see the platform
 * from there (the registry over HTTPS, the app through the load balancer).
 * Certificates are always verified: against the check's CA when it names
 * one, else the system's.
 */

const BODY_LIMIT = 4096;

export type InstallerProbe = (check: InstallerCheck) => Promise<InstallerFact>;

const oneRequest: InstallerProbe = (check) =>
  new Promise((resolve) => {
    const url = new URL(check.url);
    const headers: Record<string, string> = {};
    if (check.auth) headers.authorization = `Basic ${Buffer.from(`${check.auth.user}:${check.auth.password.reveal()}`).toString('base64')}`;
    const options = { method: 'GET', headers, timeout: check.timeoutMs ?? 10_000, ...(check.caPem ? { ca: check.caPem } : {}) };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < BODY_LIMIT) body += chunk.slice(0, BODY_LIMIT - body.length);
      });
      res.on('end', () => {
        const flat = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
        resolve({ status: res.statusCode ?? 0, headers: flat, body });
      });
      res.on('error', (err) => resolve({ status: 0, headers: {}, body: '', error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
    req.on('error', (err) => resolve({ status: 0, headers: {}, body: '', error: err.message }));
    req.end();
  });

/**
 * The check's answer; with `sample`, that many requests one after another,
 * and which values of the header the successful ones carried (e.g. which
 * replicas served, by X-Served-By). The status is the first unsuccessful one's, else the last.
 */
export const httpProbe: InstallerProbe = async (check) => {
  if (!check.sample) return oneRequest(check);
  const seen = new Set<string>();
  let last: InstallerFact | undefined;
  for (let i = 0; i < check.sample.requests; i++) {
    last = await oneRequest(check);
    if (last.status < 200 || last.status > 299) return { ...last, seen: [...seen].sort() };
    const value = last.headers[check.sample.header.toLowerCase()];
    if (value) seen.add(value);
  }
  return { ...last!, seen: [...seen].sort() };
};
