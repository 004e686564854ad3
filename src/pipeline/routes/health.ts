import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import { migrationsApplied } from '../../core/db/migrate.js';
import type { ReadReplica } from '../../core/db/replica.js';
import { HttpError } from '../../http/errors.js';

const ReplicaSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
    reads: Type.Union([Type.Literal('replica'), Type.Literal('primary')], {
      description: 'where reads go now: the primary while the replica is down',
    }),
    lag_seconds: Type.Union([Type.Number(), Type.Null()], {
      description: 'replay lag: 0 when it has replayed all it received, else the age of the last transaction replayed; null when down',
    }),
    streaming: Type.Union([Type.Boolean(), Type.Null()], {
      description: 'its WAL receiver is connected to the primary (a cut-off replica reads lag 0)',
    }),
  },
  {
    description:
      'the read replica (DATABASE_READ_URL), when there is one; down does not make the service unready: reads fall back to the primary',
  },
);

export const healthRoutes: FastifyPluginAsyncTypebox<{ pool: Pool; replica?: ReadReplica | null }> = async (app, { pool, replica }) => {
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
          200: Type.Object({ status: Type.Literal('ready'), database: Type.Literal('ok'), replica: Type.Optional(ReplicaSchema) }),
          503: Type.Ref('Problem', { description: 'the database does not answer, or a migration is not applied' }),
        },
      },
    },
    async (request) => {
      let ok: boolean;
      const replicaStatus = replica?.status();
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
      if (!replicaStatus) return { status: 'ready' as const, database: 'ok' as const };
      return { status: 'ready' as const, database: 'ok' as const, replica: await replicaStatus };
    },
  );
};
