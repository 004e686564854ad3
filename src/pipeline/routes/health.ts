import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import { migrationsApplied } from '../../core/db/migrate.js';
import { HttpError } from '../../http/errors.js';

export const healthRoutes: FastifyPluginAsyncTypebox<{ pool: Pool }> = async (app, { pool }) => {
  app.get(
    '/api/health',
    {
      schema: {
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok'), service: Type.String() }) },
      },
    },
    async () => ({ status: 'ok' as const, service: 'pipeline' }),
  );

  app.get(
    '/api/ready',
    {
      schema: {
        summary: 'Readiness: the database answers and every migration is applied',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), database: Type.Literal('ok') }),
          503: Type.Ref('Problem', { description: 'the database does not answer, or a migration is not applied' }),
        },
      },
    },
    async (request) => {
      let ok: boolean;
      try {
        ok = await migrationsApplied(pool);
      } catch (err) {
        // A database never migrated has no schema_migrations table (undefined_table).
        if ((err as { code?: unknown }).code === '42P01') ok = false;
        else {
          // The cause (host, port, driver message) goes to the log, not to the caller.
          request.log.warn({ err }, 'readiness: the database does not answer');
          throw new HttpError(503, 'database unavailable');
        }
      }
      if (!ok) throw new HttpError(503, 'database migrations are not applied');
      return { status: 'ready' as const, database: 'ok' as const };
    },
  );
};
