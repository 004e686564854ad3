// The seed's paging parameters, shared by both services.
import { Type } from 'typebox';

export const MAX_PAGE = 1_000_000_000;

export const PageQuery = (maxLimit: number) =>
  Type.Object({
    page: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1, description: '1-based page number' }),
    limit: Type.Integer({
      minimum: 1,
      maximum: maxLimit,
      default: 10,
      description: `records per page (at most ${maxLimit})`,
    }),
  });
