// Security both services share (headers) and the pipeline's own (API key,
// read rate limit, CORS). Each is a well-kept Fastify plugin, or a few lines.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import helmet from 'helmet';
import rateLimit from '@fastify/rate-limit';
import cors from '@fastify/cors';
import { HttpError, MAX_URL_LENGTH, UnauthorizedError } from './errors.js';
import { REQUEST_ID_HEADER } from './server-options.js';

/**
 * The headers helmet sets with its defaults (CSP, nosniff, frame options,
 * referrer policy, cross-origin policies, HSTS...), computed once: they
 * depend on the configuration, not on the request. (@fastify/helmet runs
 * helmet's middleware on every request, which doubled the CPU time of a
 * small read.) The CSP does not ask for https upgrades: the services speak
 * plain HTTP. /docs replaces the CSP with Swagger UI's own.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = (() => {
  const headers: Record<string, string> = {};
  const collect = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader() {},
  };
  helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } })(
    {} as IncomingMessage,
    collect as unknown as ServerResponse,
    (err?: unknown) => {
      if (err) throw err instanceof Error ? err : new Error('helmet failed', { cause: err });
    },
  );
  return Object.freeze(headers);
})();

/**
 * Every answer carries the security headers and its request id, and a URL
 * over MAX_URL_LENGTH is refused with a 414 (one hook for all three: it runs
 * on every request, before the route's own hooks).
 */
export function installResponseHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header(REQUEST_ID_HEADER, request.id);
    if (request.url.length > MAX_URL_LENGTH) return done(new HttpError(414, `The URL is longer than ${MAX_URL_LENGTH} characters`));
    done();
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * An onRequest hook that lets a request through only with
 * `Authorization: Bearer <key>`. Both sides are hashed first, so the
 * comparison is constant-time and says nothing about the key's length.
 */
export function requireBearer(key: string): onRequestHookHandler {
  const expected = sha256(key);
  return (request, _reply, done) => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!match) return done(new UnauthorizedError('This route needs Authorization: Bearer <INGEST_API_KEY>'));
    if (!timingSafeEqual(sha256(match[1]!), expected)) return done(new UnauthorizedError('The bearer token is not the API key'));
    done();
  };
}

/** Adds a hook in front of a route's own onRequest hooks (at registration: no cost for other routes). */
export function prependOnRequest(route: RouteOptions, hook: onRequestHookHandler): void {
  const own = route.onRequest ? ([] as onRequestHookHandler[]).concat(route.onRequest) : [];
  route.onRequest = [hook, ...own];
}

/**
 * At most `perMinute` requests per client IP per minute on the routes
 * `limited` picks, in memory (per process). Past it: a 429 problem with
 * Retry-After (and the x-ratelimit-* headers on every limited answer).
 */
export async function registerRateLimit(
  app: FastifyInstance,
  perMinute: number,
  limited: (request: FastifyRequest) => boolean,
): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: perMinute,
    timeWindow: 60_000,
    allowList: (request) => !limited(request),
    errorResponseBuilder: (_request, context) =>
      new HttpError(context.statusCode, `Rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
  });
}

/** CORS for the given browser origins ('*' = any); not registered at all when there are none. */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (!origins.length) return;
  // @fastify/cors answers a malformed preflight in text/plain; here it gets a
  // problem like every other client error (this hook runs before the plugin's).
  app.addHook('onRequest', async (request) => {
    if (request.method === 'OPTIONS' && (!request.headers.origin || !request.headers['access-control-request-method'])) {
      throw new HttpError(400, 'A CORS preflight (OPTIONS) needs the Origin and Access-Control-Request-Method headers');
    }
  });
  await app.register(cors, {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Last-Event-ID'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'Location', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
  });
}
