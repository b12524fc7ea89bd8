# syntax=docker/dockerfile:1
# eventchat: the Node server, production dependencies only, as a non-root user.
#   docker build -t eventchat .
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://… -e JWT_SECRET=… eventchat
# (compose.yaml runs it beside PostgreSQL.)

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
# all dependencies first, so that patch-package applies the postgres.js fix (patches/), then
# only the production ones are kept
RUN npm ci --ignore-scripts && npx patch-package && npm prune --omit=dev && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts ./scripts
# the chat page at / (bundled by esbuild, a production dependency, when first requested)
COPY web ./web
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server is PID 1 and handles SIGTERM itself (closes sockets with 1001, exits 0): the same
# command as `npm start` without npm in between (test/container-recipe.unit.test.ts checks that).
CMD ["node", "--import", "tsx", "src/main.node.ts"]
