# The API as a container. Without DATABASE_URL it runs on embedded PGlite in /app/data (mount a
# volume there to keep it); for production set DATABASE_URL and JWT_SECRET (see docker-compose.yml).
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, so the layer is reused until package*.json change. tsx (which runs
# `npm start`) is a runtime dependency, so dev dependencies can be left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src

# The embedded database and its generated JWT secret live in /app/data, writable by `node`.
RUN mkdir -p /app/data && chown node:node /app/data

USER node
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

CMD ["npm", "start"]
