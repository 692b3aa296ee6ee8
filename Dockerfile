# The API as a container. Without DATABASE_URL it runs on embedded PGlite in /app/data (mount a
# volume there to keep it); for production set DATABASE_URL and JWT_SECRET (see docker-compose.yml).

# Build: compile src/ to dist/ with the dev dependencies (TypeScript).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Run: the compiled service and the runtime dependencies only.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY drizzle ./drizzle
COPY --from=build /app/dist ./dist

# The embedded database and its generated JWT secret live in /app/data, writable by `node`.
RUN mkdir -p /app/data && chown node:node /app/data

USER node
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

# `npm run start:prod`: node with the heap cap the benchmark measures (package.json).
CMD ["npm", "run", "start:prod"]
