# The Ailo node, CLI and miner. Build: docker build -t ailo .  Run: see docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node --import tsx wallet-ui/tools/build.ts
ENV NODE_ENV=production
EXPOSE 8645
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["node/cli.ts", "--data", "/data", "--host", "0.0.0.0"]
