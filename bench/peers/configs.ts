/**
 * @module The config files of the peers section's nginx and HAProxy processes, as text:
 * the two nginx backends, nginx as a balancer, HAProxy as a balancer. Every path an
 * nginx writes (pid, logs, temp files) is under the section's temp dir, so that nothing
 * outside it is touched and no root-owned default path is needed.
 */
import { join } from 'node:path';

/** Descriptors and connections per process: 1,000 clients plus their upstream
 * connections, with room to spare. */
const CONNECTIONS = 8_192;
/** nginx closes a keep-alive connection after 1,000 requests by default (client side
 * and, in an upstream block, toward the backends). switchyard and HAProxy do not, so the
 * limit is lifted everywhere: otherwise only nginx would pay for reconnecting. */
const KEEPALIVE_REQUESTS = 1_000_000;

export interface NginxBackendConfig {
  /** A name for its files in `dir` (`backend-a`). */
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  /** The body of every answer; distinct per backend, so that a client can tell which answered. */
  readonly body: string;
}

/** A whole nginx config: one worker, every file it writes under `dir` (named after
 * `name`), and `http` holding `lines`. */
function nginxConfig(dir: string, name: string, lines: readonly string[]): string {
  const file = (suffix: string): string => join(dir, `${name}${suffix}`);
  return [
    'worker_processes 1;',
    `pid ${file('.pid')};`,
    `error_log ${file('.error.log')} warn;`,
    `worker_rlimit_nofile ${CONNECTIONS * 2};`,
    `events { worker_connections ${CONNECTIONS}; }`,
    'http {',
    '  access_log off;',
    `  keepalive_requests ${KEEPALIVE_REQUESTS};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${file(`-temp-${kind}`)};`),
    ...lines.map((line) => `  ${line}`),
    '}',
    '',
  ].join('\n');
}

/** A backend: one worker answering every request with `body`. */
export function nginxBackendConfig({ name, dir, port, body }: NginxBackendConfig): string {
  return nginxConfig(dir, name, [
    'server {',
    `  listen 127.0.0.1:${port};`,
    '  location / {',
    '    default_type text/plain;',
    `    return 200 ${JSON.stringify(body)};`,
    '  }',
    '}',
  ]);
}

/** nginx as the balancer: one worker, round robin over `backends`, keep-alive upstream. */
export function nginxBalancerConfig(dir: string, port: number, backends: readonly number[]): string {
  return nginxConfig(dir, 'balancer-nginx', [
    'upstream backends {',
    ...backends.map((backend) => `  server 127.0.0.1:${backend};`),
    '  keepalive 64;',
    `  keepalive_requests ${KEEPALIVE_REQUESTS};`,
    '}',
    'server {',
    `  listen 127.0.0.1:${port};`,
    '  location / {',
    '    proxy_pass http://backends;',
    '    proxy_http_version 1.1;',
    '    proxy_set_header Connection "";',
    '  }',
    '}',
  ]);
}

/** HAProxy as the balancer: two threads, round robin over `backends`, idle server
 * connections shared between clients (`http-reuse always`). */
export function haproxyConfig(port: number, backends: readonly number[]): string {
  return [
    'global',
    '  nbthread 2',
    `  maxconn ${CONNECTIONS}`,
    'defaults',
    '  mode http',
    `  maxconn ${CONNECTIONS}`,
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-keep-alive 30s',
    'frontend clients',
    `  bind 127.0.0.1:${port}`,
    '  default_backend backends',
    'backend backends',
    '  balance roundrobin',
    '  http-reuse always',
    ...backends.map((backend, i) => `  server backend-${i} 127.0.0.1:${backend}`),
    '',
  ].join('\n');
}
