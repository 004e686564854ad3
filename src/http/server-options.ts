// Fastify options both services share: body limit, request ids, and the one
// log line per request. (The id goes back to the caller with the security
// headers: installResponseHeaders in security.ts.)
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { MAX_URL_LENGTH, PROBLEM_CONTENT_TYPE, problemText, sendProblem } from './errors.js';
import { strictIntegerValidation } from './paging.js';

export const REQUEST_ID_HEADER = 'x-request-id';

// An incoming id is kept only when it looks like an id: a caller cannot put
// an arbitrary (or huge) string into every log line of its request.
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The caller's x-request-id when it is a sane token, else a fresh UUID. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Fastify's request lines log the raw URL (query strings such as `email=`
 * are personal data) and two lines per request. This writes one line when a
 * response is finished: method, route pattern, status, duration; the request
 * id comes from the request's child logger. No URL, no headers, no body.
 */
export class RequestLogController extends LogController {
  constructor(private readonly logRequests: boolean) {
    super({ disableRequestLogging: !logRequests, requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {}

  // Answered (and counted) by the app's own not-found handler; the request line says 404.
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!this.logRequests) return;
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) reply.log.warn({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
  }

  // The defaults of these two log the request (its URL); the error is enough.
  override defaultErrorLog(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
    if (reply.statusCode >= 500) reply.log.error({ err: error }, error.message);
  }

  override writeHeadError(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn({ err: error }, error.message);
  }
}

/**
 * A request Node's HTTP parser refused (Fastify's `clientErrorHandler`):
 * there is no request to route, so the problem is written on the socket,
 * which then closes. Headers too large (with the URL: Node's maxHeaderSize)
 * → 431, too slow → 408, anything else that is not HTTP → 400.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset socket has nothing to answer; one already answering (a keep-alive
  // response under way) must not get a second status line in its body.
  const answering = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request line and header fields are larger than the server reads (16 KiB)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request was not received in time']
        : [400, 'The request is not well-formed HTTP'];
  const body = problemText(status, detail);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `content-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-content-type-options: nosniff\r\n${REQUEST_ID_HEADER}: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Errors Fastify's router raises before any route or hook (its default
 * answers them in plain JSON): bad percent-encoding in the path → 400, a
 * path parameter over maxParamLength → 414.
 */
function frameworkError(error: { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  reply.header(REQUEST_ID_HEADER, request.id).header('x-content-type-options', 'nosniff');
  if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(reply, 400, 'The URL path is not valid percent-encoded UTF-8', {
      invalid_params: [{ name: 'path', in: 'path', reason: 'is not valid percent-encoded UTF-8' }],
    });
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendProblem(reply, 414, `The URL is longer than ${MAX_URL_LENGTH} characters`);
  } else {
    reply.log.error({ err: error }, 'router error');
    sendProblem(reply, 500, 'Internal server error');
  }
}

export interface SharedServerOptions {
  /** One log line per request (LOG_REQUESTS); default on when there is a logger. */
  logRequests?: boolean;
}

export function serverOptions(logger: FastifyBaseLogger | false | undefined, opts: SharedServerOptions = {}): FastifyServerOptions {
  const ajvCompiler = AjvCompiler();
  return {
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    logController: new RequestLogController(Boolean(logger) && (opts.logRequests ?? true)),
    // Neither service takes a request body bigger than this; past it: 413.
    bodyLimit: 1024 * 1024,
    genReqId: requestId,
    clientErrorHandler,
    frameworkErrors: frameworkError,
    // Any path parameter of a URL the services read is routed (its schema
    // bounds it: an id longer than a customer_id is a 400); past
    // MAX_URL_LENGTH the whole URL is refused (414, security.ts).
    routerOptions: { maxParamLength: MAX_URL_LENGTH },
    // Fastify's own Ajv compiler, with the strict integer rule in front of
    // every integer query and path parameter (paging.ts).
    schemaController: {
      compilersFactory: {
        buildValidator: (externalSchemas, options) => {
          const compile = ajvCompiler(externalSchemas, options);
          return (route) => strictIntegerValidation(route.httpPart, route.schema, compile(route));
        },
      },
    },
  };
}
