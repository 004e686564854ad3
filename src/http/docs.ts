// OpenAPI document at /openapi.json and Swagger UI at /docs, assets served
// from the package (no CDN), for either service. Every error answer of every
// route is documented as a problem (application/problem+json) with an example.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { STATUS_CODES } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { MAX_URL_LENGTH, ProblemSchema } from './errors.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** Error answers a route can give beyond its own: status → when. */
export type RouteErrors = Record<string, string | { description: string; headers?: Record<string, unknown> }>;

export interface DocsOptions {
  /** Errors the app adds to a route (auth, rate limit, database...), by route. */
  errorsFor?: (route: RouteOptions) => RouteErrors;
  /** Marks a route as needing the `bearer` security scheme. */
  needsAuth?: (route: RouteOptions) => boolean;
  /** The groups of routes in Swagger UI, in order, and the one a route belongs to (by its URL). */
  tags?: { name: string; description: string; routes: (url: string) => boolean }[];
}

type JsonObject = Record<string, unknown>;

/**
 * Swagger UI's "Try it out" fills every parameter with its first example at
 * once, and the read API refuses some mixes (`page` with `cursor`) or finds
 * nothing for others (an email and a prefix of another name). An optional
 * query parameter's examples go into its description instead, so a route
 * tried as it opens asks what a plain call asks. Required ones (path
 * parameters) keep theirs: they are needed to call at all.
 */
function examplesIntoDescriptions(querystring: unknown): unknown {
  const q = querystring as { properties?: Record<string, JsonObject>; required?: string[] } | undefined;
  if (!q?.properties) return querystring;
  const required = new Set(q.required ?? []);
  const properties: Record<string, JsonObject> = {};
  for (const [name, prop] of Object.entries(q.properties)) {
    const { examples, ...rest } = prop as JsonObject & { examples?: unknown[] };
    if (required.has(name) || !Array.isArray(examples) || examples.length === 0) {
      properties[name] = prop;
      continue;
    }
    const eg = examples.map((e) => `\`${String(e)}\``).join(', ');
    properties[name] = {
      ...rest,
      description: `${typeof rest.description === 'string' ? rest.description.replace(/\.?\s*$/, '') : ''}. Example${examples.length > 1 ? 's' : ''}: ${eg}`,
    };
  }
  return { ...q, properties };
}

/** Summaries are shown as plain text: Markdown code marks in them would show as backticks. */
const plain = (text: unknown) => (typeof text === 'string' ? text.replace(/`([^`]*)`/g, '$1') : text);

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Errors any route can give, from what it declares. */
function standardErrors(route: RouteOptions): RouteErrors {
  const schema = route.schema ?? {};
  const errors: RouteErrors = {};
  if (schema.querystring || schema.params || schema.headers || schema.body) {
    errors['400'] = 'a parameter is invalid; `invalid_params` names each with the reason';
  }
  const methods = ([] as string[]).concat(route.method);
  if (methods.some((m) => BODY_METHODS.has(m))) {
    errors['413'] = 'the request body is larger than the limit (1 MiB)';
    errors['415'] = 'the request body has a content type the service does not read';
  }
  errors['500'] = 'an unexpected failure; the detail says nothing internal, the log has the cause';
  return errors;
}

function exampleStatus(code: string): number {
  if (/^\d{3}$/.test(code)) return Number(code);
  return code === '4xx' || code === '4XX' ? 400 : 503;
}

function problemExample(code: string, description: string): Record<string, unknown> {
  const status = exampleStatus(code);
  const example: Record<string, unknown> = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: description,
  };
  if (status === 400) example.invalid_params = [{ name: 'limit', in: 'query', reason: 'must be <= 1000' }];
  return example;
}

function isProblemRef(schema: unknown): schema is { $ref: string; description?: string } {
  return typeof schema === 'object' && schema !== null && (schema as { $ref?: unknown }).$ref === ProblemSchema.$id;
}

/**
 * Rewrites a route's error answers as problem+json documents with examples,
 * adding the standard ones (400, 413, 415, 500) and the app's own (errorsFor).
 * Runs at route registration, before the schema is compiled or documented.
 */
function documentProblems(route: RouteOptions, opts: DocsOptions): void {
  const schema = route.schema;
  if (!schema || schema.hide) return;
  const declared = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
  const added = { ...standardErrors(route), ...(opts.errorsFor?.(route) ?? {}) };
  for (const [code, value] of Object.entries(added)) {
    const { description, headers } = typeof value === 'string' ? { description: value, headers: undefined } : value;
    const own = declared[code];
    if (own === undefined) declared[code] = { $ref: ProblemSchema.$id, description, ...(headers ? { headers } : {}) };
    // A route's own answer wins; it gets the app's description and headers when it has none.
    else if (isProblemRef(own)) declared[code] = { headers, ...own, description: own.description ?? description };
  }
  for (const [code, value] of Object.entries(declared)) {
    if (!isProblemRef(value)) continue;
    const { $ref, description, headers } = value as { $ref: string; description?: string; headers?: unknown };
    const text = description ?? STATUS_CODES[exampleStatus(code)] ?? 'Error';
    declared[code] = {
      description: text,
      ...(headers ? { headers } : {}),
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref }, example: problemExample(code, text) } },
    };
  }
  const tag = opts.tags?.find((t) => t.routes(route.url));
  route.schema = {
    ...schema,
    summary: plain(schema.summary) as string | undefined,
    ...(schema.querystring ? { querystring: examplesIntoDescriptions(schema.querystring) } : {}),
    ...(tag && !schema.tags ? { tags: [tag.name] } : {}),
    response: declared,
    ...(opts.needsAuth?.(route) ? { security: [{ bearer: [] }] } : {}),
  };
}

export async function registerDocs(
  app: FastifyInstance,
  info: { title: string; description: string; version: string },
  opts: DocsOptions = {},
): Promise<void> {
  app.addSchema(ProblemSchema);
  // Before swagger's own hook, and before any route of the app.
  app.addHook('onRoute', (route) => documentProblems(route, opts));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        ...info,
        description: `${info.description}\n\nEvery error is an RFC 9457 problem (\`${PROBLEM_MEDIA_TYPE}\`). A path no route has answers 404; a known path asked with another method answers 405 with \`Allow\`. Integer parameters take decimal digits only. A URL over ${MAX_URL_LENGTH} characters answers 414, a request line and headers over 16 KiB 431, a path that is not valid percent-encoded UTF-8 400. Every answer carries \`x-request-id\` (the caller's, when it sends a sane one).`,
      },
      ...(opts.tags ? { tags: opts.tags.map(({ name, description }) => ({ name, description })) } : {}),
      ...(opts.needsAuth
        ? { components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'INGEST_API_KEY' } } } }
        : {}),
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // The services speak plain HTTP (TLS, if any, ends at a proxy): asking the
    // browser to upgrade the UI's asset requests to https would break /docs.
    // Swagger UI sets a few inline styles as it renders (helmet's own default
    // CSP allows inline styles too); scripts stay 'self' only.
    transformStaticCSP: (header) =>
      header
        .replace(/\s*upgrade-insecure-requests;?/, '')
        .replace(/style-src ([^;]*);/, (_m, sources: string) => `style-src ${sources.trim()} 'unsafe-inline';`),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
