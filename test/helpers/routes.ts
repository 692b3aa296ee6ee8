import type { FastifyInstance } from 'fastify';

/** A route as the router registered it. */
export interface RegisteredRoute {
  method: string;
  /** The path as registered, with `:name` parameters and `*` wildcards. */
  path: string;
  /** `METHOD path`. */
  key: string;
}

/**
 * Every route the router knows, HEAD left out, read from `printRoutes` (Fastify exposes no route
 * list): its tree is walked line by line, each line's indentation saying how deep it sits.
 */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const pathAtDepth: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (pathAtDepth[depth - 1] ?? '') + match[2]!;
    pathAtDepth[depth] = path;
    for (const method of (match[3] ?? '').split(', ').filter((m) => m && m !== 'HEAD')) routes.push({ method, path, key: `${method} ${path}` });
  }
  return routes;
}

/** A registered path in OpenAPI's spelling: `:id` becomes `{id}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');
