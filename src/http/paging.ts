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

/**
 * The one integer rule of both services' query and path parameters: a
 * decimal integer is digits only, `0` or without a leading zero. Ajv's
 * coercion (Fastify's default `coerceTypes`) takes whatever `Number()` reads
 * (`0x10`, `1e3`, ` 1`, `+1`, `1.0`) and `Infinity`, whose range checks it
 * then skips; so the raw text is checked first (strictIntegerValidation).
 */
const DECIMAL_INTEGER = /^(?:0|[1-9][0-9]*)$/;
/** More digits than this is past Number.MAX_SAFE_INTEGER (and any maximum here). */
const MAX_DIGITS = 15;

/** Why a raw parameter text is not an integer of the schema, or null when it is one Ajv may convert. */
export function integerTextProblem(value: unknown, maximum: number | undefined): string | null {
  if (typeof value !== 'string') return Array.isArray(value) ? 'must be given once' : 'must be a decimal integer';
  if (!DECIMAL_INTEGER.test(value)) return 'must be a decimal integer (digits only)';
  // Past MAX_DIGITS, Number() rounds (and at 309 digits gives Infinity, whose range checks Ajv skips).
  if (value.length > MAX_DIGITS) return maximum === undefined ? `must have at most ${MAX_DIGITS} digits` : `must be <= ${maximum}`;
  return null;
}

interface IntegerProperty {
  name: string;
  maximum: number | undefined;
}

/** The integer properties of a query or path schema (top level: those are the parameters). */
function integerProperties(schema: unknown): IntegerProperty[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown; maximum?: unknown }> } | null)?.properties;
  if (!properties) return [];
  return Object.entries(properties)
    .filter(([, s]) => s.type === 'integer')
    .map(([name, s]) => ({ name, maximum: typeof s.maximum === 'number' ? s.maximum : undefined }));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Validate = ((data: any, ...rest: any[]) => unknown) & { errors?: unknown; schemaEnv?: unknown; schema?: unknown };

/**
 * Wraps a compiled query or path validator: each integer parameter's text
 * must pass integerTextProblem before Ajv coerces it (and checks its range).
 * A failure is an Ajv-shaped error naming the parameter, so it is answered
 * like any validation error. Other parts and schemas get the validator as is.
 */
export function strictIntegerValidation<V extends Validate>(httpPart: string | undefined, schema: unknown, validate: V): V {
  if (httpPart !== 'querystring' && httpPart !== 'params') return validate;
  const integers = integerProperties(schema);
  if (integers.length === 0) return validate;
  const strict: Validate = (data: unknown, ...rest: unknown[]) => {
    if (data !== null && typeof data === 'object') {
      for (const { name, maximum } of integers) {
        const value = (data as Record<string, unknown>)[name];
        if (value === undefined) continue;
        const problem = integerTextProblem(value, maximum);
        if (problem !== null) {
          strict.errors = [
            {
              instancePath: `/${name}`,
              schemaPath: `#/properties/${name}/type`,
              keyword: 'type',
              params: { type: 'integer' },
              message: problem,
            },
          ];
          return false;
        }
      }
    }
    const ok = validate(data, ...rest);
    strict.errors = validate.errors;
    return ok;
  };
  // Fastify passes the parent to an Ajv function (schemaEnv) so it can coerce a root value.
  strict.schemaEnv = validate.schemaEnv;
  strict.schema = validate.schema;
  return strict as V;
}
