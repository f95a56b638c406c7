# One image for the proxy (`start`, the default) and the ingest worker (`ingest`).
# The TypeScript sources are transpiled to .build/ once here (bin/build.mjs); processes run plain JavaScript.
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The postinstall step keeps the lock in sync with what the registry serves (see bin/fix-lock.mjs).
COPY bin/fix-lock.mjs bin/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    SIGHTLINE_HOST=0.0.0.0 \
    SIGHTLINE_DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN node bin/build.mjs
# Created here, owned by the runtime user, so a fresh volume mounted on it inherits the ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8787
CMD ["node", "bin/sightline.mjs", "start"]
