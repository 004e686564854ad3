// One error shape for both services: RFC 9457 problem details
// (application/problem+json). `detail` is also the key FastAPI clients read.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';

export interface InvalidParam {
  name: string;
  in: 'query' | 'path' | 'body' | 'header';
  reason: string;
}

/** An error that is the client's to fix, or a known failure with its own status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    /** Response headers the problem needs (WWW-Authenticate, Allow, Retry-After...). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, message);
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, invalidParams: InvalidParam[] = []) {
    super(400, message, invalidParams.length ? { invalid_params: invalidParams } : {});
  }
}

/** 401: INGEST_API_KEY is set and the request's bearer token is missing or wrong. */
export class UnauthorizedError extends HttpError {
  constructor(message: string) {
    super(401, message, {}, { 'www-authenticate': 'Bearer realm="customer-pipeline"' });
  }
}

export const ProblemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string', examples: ['about:blank'] },
    title: { type: 'string', examples: ['Bad Request'] },
    status: { type: 'integer', examples: [400] },
    detail: { type: 'string', examples: ['querystring/limit must be <= 1000'] },
    instance: { type: 'string' },
    invalid_params: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, in: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  },
  required: ['type', 'title', 'status', 'detail'],
  additionalProperties: true,
} as const;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * The longest request target (path and query string) either service reads;
 * a longer one answers 414. The whole request head (target and headers) is
 * also bounded by Node's HTTP parser (maxHeaderSize, 16 KiB): past it, 431.
 * 12 KiB leaves a URL within it 4 KiB of headers, and lets a parameter of
 * several KiB (a forged cursor) be judged by its own schema, naming it.
 */
export const MAX_URL_LENGTH = 12_288;

/** A problem document's text. */
export function problemText(status: number, detail: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...extra });
}

export function sendProblem(reply: FastifyReply, status: number, detail: string, extra: Record<string, unknown> = {}): FastifyReply {
  // A URL too long to read (414) is not echoed back.
  const instance = status === 414 ? undefined : reply.request.url;
  return reply
    .code(status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemText(status, detail, { instance, ...extra }));
}

const LOCATION: Record<string, InvalidParam['in']> = {
  querystring: 'query',
  params: 'path',
  body: 'body',
  headers: 'header',
};

function invalidParams(err: FastifyError): InvalidParam[] {
  const where = LOCATION[err.validationContext ?? ''] ?? 'query';
  return (err.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    const name = missing ?? v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    return { name: name || '(root)', in: where, reason: v.message ?? 'is invalid' };
  });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The methods some route answers on this path; none when only a catch-all OPTIONS (CORS preflight) matches. */
export function allowedMethods(app: FastifyInstance, path: string): string[] {
  const allowed = METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
  return allowed.some((m) => m !== 'OPTIONS') ? allowed : [];
}

/**
 * Installs the one error handler and the not-found handler of an app:
 * 404 for a path no route has, 405 with `Allow` for a known path asked with
 * another method (Fastify's router would answer 404 for both).
 */
export function installErrorHandling(app: FastifyInstance, classify: (err: Error) => HttpError | null = () => null): void {
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = allowedMethods(app, path);
    // A route of this very method that sends its own not-found (a static
    // file that is missing) is a 404, not a 405.
    if (allowed.length && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(reply, 405, `Method ${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`);
    }
    return sendProblem(reply, 404, `No route ${request.method} ${path}`);
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = (classify(error) as FastifyError | null) ?? error;
    if (err instanceof HttpError) {
      if (err.status >= 500) request.log.error({ err }, err.message);
      for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
      return sendProblem(reply, err.status, err.message, err.extra);
    }
    if (err.validation) {
      const params = invalidParams(err);
      const detail = params.map((p) => `${p.name} ${p.reason}`).join('; ');
      return sendProblem(reply, 400, detail, { invalid_params: params });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendProblem(reply, status, err.message);
    // Our fault: log it with the request, tell the client nothing internal.
    request.log.error({ err }, 'unhandled error');
    return sendProblem(reply, status >= 500 ? status : 500, 'Internal server error');
  });
}
