import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import { LIMITS } from '../../core/customer.js';
import { BadRequestError, NotFoundError } from '../../http/errors.js';
import { DEFAULT_LIMIT, MAX_PAGE, PageQuery } from '../../http/paging.js';
import { isCustomerQuery, queryCustomers, resolveCustomerQuery, SORT_VALUES } from '../../core/db/customer-query.js';
import { CustomerReader } from '../../core/db/customers-repository.js';

const CREATED_PATTERN = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}:\\d{2})?$';
const DECIMAL_PATTERN = '^-?\\d+(\\.\\d+)?$';

/** The seed's page and limit, and the filters, sort and cursor beyond it. */
const CustomersQuery = (maxLimit: number) =>
  Type.Object({
    // No schema default: a page given with a cursor is refused, so it must be seen as given.
    page: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_PAGE,
        description:
          '1-based page number (default 1): OFFSET paging. Not with `cursor`, which carries its own position; with filters or a sort, deep pages cost their offset, so walk them with `cursor`.',
        examples: [1],
      }),
    ),
    // Optional for the document (Ajv still fills in the default of 10).
    limit: Type.Optional({ ...PageQuery(maxLimit).properties.limit, examples: [10] }),
    email: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 320,
        description: 'Exact email address, case-insensitive.',
        examples: ['Liam.Johnson2@Example.com'],
      }),
    ),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description:
          'Prefix search, case-insensitive, over first_name, last_name and email: a customer matches when any of the three starts with `q`. `%` and `_` are ordinary characters.',
        examples: ['em', 'smi'],
      }),
    ),
    created_from: Type.Optional(
      Type.String({
        pattern: CREATED_PATTERN,
        description:
          'created_at at or after this instant (inclusive): "YYYY-MM-DD" (from midnight) or "YYYY-MM-DDTHH:MM:SS". Customers without created_at are left out.',
        examples: ['2024-01-01', '2024-01-15T10:30:00'],
      }),
    ),
    created_to: Type.Optional(
      Type.String({
        pattern: CREATED_PATTERN,
        description:
          'created_at at or before this instant (inclusive): "YYYY-MM-DDTHH:MM:SS", or "YYYY-MM-DD" for the whole of that day. Customers without created_at are left out.',
        examples: ['2024-01-31', '2024-01-31T23:59:59'],
      }),
    ),
    balance_min: Type.Optional(
      Type.String({
        pattern: DECIMAL_PATTERN,
        maxLength: 40,
        description: 'account_balance at least this much (inclusive), a decimal number. Customers without a balance are left out.',
        examples: ['0', '100.50', '-20'],
      }),
    ),
    balance_max: Type.Optional(
      Type.String({
        pattern: DECIMAL_PATTERN,
        maxLength: 40,
        description: 'account_balance at most this much (inclusive), a decimal number. Customers without a balance are left out.',
        examples: ['1000', '2500.75'],
      }),
    ),
    sort: Type.Optional(
      Type.Enum(SORT_VALUES, {
        description:
          'Order of the answer: a column, ascending, or `-column`, descending (default `customer_id`). Ties are broken by customer_id in the same direction, so pages are stable. Customers without a value (null date_of_birth, account_balance or created_at) come last ascending and first descending.',
        examples: ['-created_at', 'last_name', 'account_balance'],
      }),
    ),
    cursor: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        pattern: '^[A-Za-z0-9_-]+$',
        description:
          "Keyset paging: the `next_cursor` of the previous answer, sent with the same sort and filters (otherwise 400). Rows inserted or deleted meanwhile do not shift the pages: every row present throughout is seen exactly once. The answer's `page` counts the pages walked.",
        examples: ['eyJ2IjoxLCJzIjoiLWNyZWF0ZWRfYXQiLCJmIjoiRUs0OGtPTFJMZlRtYjBpTiIsInAiOjIsImsiOm51bGwsImkiOiJDLTAwMjgyNjIifQ'],
      }),
    ),
  });

export const customersRoutes: FastifyPluginAsyncTypebox<{ pool: Pool; maxLimit: number; transactionPooler?: boolean }> = async (
  app,
  { pool, maxLimit, transactionPooler },
) => {
  const reader = new CustomerReader(pool, { transactionPooler });
  app.get(
    '/api/customers',
    {
      schema: {
        summary: 'A page of stored customers: ordered by customer_id, or filtered, sorted and keyset-paged',
        description:
          "Without filters, sort or cursor: the seed's page, ordered by customer_id. With any of them, the answer also has `next_cursor` (null on the last page). `total` is always exact: the number of customers matching the filters.",
        querystring: CustomersQuery(maxLimit),
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('Customer')),
            total: Type.Integer({ description: 'customers matching the filters (all of them without filters)' }),
            page: Type.Integer(),
            limit: Type.Integer(),
            next_cursor: Type.Optional(
              Type.Union([Type.String(), Type.Null()], {
                description:
                  'cursor of the next page, with the same sort and filters; null on the last page. Present when a filter, sort or cursor was given.',
              }),
            ),
          }),
          400: Type.Ref('Problem'),
          503: Type.Ref('Problem'),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? DEFAULT_LIMIT;
      const input = { ...request.query, limit };
      if (!isCustomerQuery(input)) {
        // The seed's page: trigger-kept total and page anchors (customers-repository.ts).
        const page = request.query.page ?? 1;
        const { data, total } = await reader.page(page, limit);
        return { data, total, page, limit };
      }
      const resolved = resolveCustomerQuery(input);
      if (!resolved.ok) {
        const params = resolved.problems.map((p) => ({ name: p.name, in: 'query' as const, reason: p.reason }));
        throw new BadRequestError(params.map((p) => `${p.name} ${p.reason}`).join('; '), params);
      }
      const { data, total, nextCursor } = await queryCustomers(pool, resolved.query);
      return { data, total, page: resolved.query.page, limit, next_cursor: nextCursor };
    },
  );

  app.get(
    '/api/customers/:customer_id',
    {
      schema: {
        summary: 'One stored customer by id',
        params: Type.Object({
          customer_id: Type.String({
            maxLength: LIMITS.customer_id,
            description: `the customer_id of the record (at most ${LIMITS.customer_id} characters, as the record schema has it; longer: 400)`,
            examples: ['CUST-0001'],
          }),
        }),
        response: { 200: Type.Ref('Customer'), 404: Type.Ref('Problem'), 503: Type.Ref('Problem') },
      },
    },
    async (request) => {
      const id = request.params.customer_id;
      // PostgreSQL text cannot hold NUL, so no stored id contains one.
      const customer = id.includes('\u0000') ? null : await reader.get(id);
      if (!customer) throw new NotFoundError(`Customer ${request.params.customer_id} not found`);
      return customer;
    },
  );
};
