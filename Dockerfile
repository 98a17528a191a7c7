# Ledger as a container image: `docker build -t ledger .`
#
# Two stages: the Rust toolchain builds the release binaries; the image that runs them is a
# slim Debian with nothing but CA certificates. The image expects DATABASE_URL (it does not run
# the embedded PostgreSQL cluster: in a container deployment PostgreSQL is its own service, see
# compose.yaml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ledger --bin ledger-replay

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home ledger
COPY --from=build /src/target/release/ledger /src/target/release/ledger-replay /usr/local/bin/
USER ledger
ENV LEDGER_LISTEN=0.0.0.0:8080 \
    LEDGER_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["ledger"]
CMD ["serve"]
