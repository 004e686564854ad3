import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import { NotFoundError } from '../../http/errors.js';
import { PageQuery } from '../../http/paging.js';
import { getCustomer, listCustomers } from '../db/customers-repository.js';

export const customersRoutes: FastifyPluginAsyncTypebox<{ pool: Pool; maxLimit: number }> = async (app, { pool, maxLimit }) => {
  app.get(
    '/api/customers',
    {
      schema: {
        summary: 'A page of stored customers, ordered by customer_id',
        querystring: PageQuery(maxLimit),
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('Customer')),
            total: Type.Integer(),
            page: Type.Integer(),
            limit: Type.Integer(),
          }),
          400: Type.Ref('Problem'),
          503: Type.Ref('Problem'),
        },
      },
    },
    async (request) => {
      const { page, limit } = request.query;
      const { data, total } = await listCustomers(pool, page, limit);
      return { data, total, page, limit };
    },
  );

  app.get(
    '/api/customers/:customer_id',
    {
      schema: {
        summary: 'One stored customer by id',
        params: Type.Object({ customer_id: Type.String({ maxLength: 200 }) }),
        response: { 200: Type.Ref('Customer'), 404: Type.Ref('Problem'), 503: Type.Ref('Problem') },
      },
    },
    async (request) => {
      const id = request.params.customer_id;
      // PostgreSQL text cannot hold NUL, so no stored id contains one.
      const customer = id.includes('\u0000') ? null : await getCustomer(pool, id);
      if (!customer) throw new NotFoundError(`Customer ${request.params.customer_id} not found`);
      return customer;
    },
  );
};
