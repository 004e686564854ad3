// The seed's paging parameters, shared by both services.
import { Type } from 'typebox';

export const MAX_PAGE = 1_000_000_000;

export const DEFAULT_PAGE = 1;
export const DEFAULT_LIMIT = 10;

/**
 * Optional in the OpenAPI document, as they are to a client; Ajv fills in
 * the defaults, and handlers read them with the same defaults (`?? DEFAULT_…`)
 * for the type checker's sake.
 */
export const PageQuery = (maxLimit: number) =>
  Type.Object({
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE, description: '1-based page number' })),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: maxLimit,
        default: DEFAULT_LIMIT,
        description: `records per page (at most ${maxLimit})`,
      }),
    ),
  });
