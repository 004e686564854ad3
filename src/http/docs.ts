// OpenAPI document at /openapi.json and Swagger UI at /docs, assets served
// from the package (no CDN), for either service.
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ProblemSchema } from './errors.js';

export async function registerDocs(
  app: FastifyInstance,
  info: { title: string; description: string; version: string },
): Promise<void> {
  app.addSchema(ProblemSchema);
  await app.register(swagger, {
    openapi: { openapi: '3.1.0', info },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
