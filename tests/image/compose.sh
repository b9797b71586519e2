#!/bin/sh
# tests/image/compose.sh: examples/compose brought up for real with podman-compose: the app's image
# is built from the example's Containerfile (service-precheck copied in from the image under test),
# and the app's server starts only after db and cache both serve.
#
# db and cache are small local images (DB_IMAGE, CACHE_IMAGE; the app's base is APP_BASE_IMAGE)
# that start listening only when the test creates /tmp/listen in them, one after the other, so
# the order is checked by events, not by timing. They answer as PostgreSQL and Redis do
# (tests/image/stand-in.sh, in the state the test writes to /tmp/state): while neither listens
# the app waits; while db listens but is starting up (57P03) it waits; with db ready it still
# waits for cache; once cache answers PING too the server starts and answers HTTP.
#
# Run by test.sh inside tests/image/netns.sh (a private network namespace).
set -u
# shellcheck source=tests/image/scenario.sh
. "$(dirname "$0")/scenario.sh"

if ! command -v podman-compose >/dev/null 2>&1; then
    echo "podman-compose is needed (pip install podman-compose==1.0.6)" >&2
    exit 77
fi

# A server that starts listening on $PORT only once /tmp/listen exists: a database slow to come up.
# It then answers as $PROTOCOL in the state /tmp/state names (stand-in.sh).
mkdir -p "$tmp/listener"
cat >"$tmp/listener/listen" <<'EOF'
#!/bin/sh
echo "listen: started; listening on port $PORT once /tmp/listen exists"
until [ -e /tmp/listen ]; do sleep 0.1; done
echo "listen: listening on port $PORT as $PROTOCOL"
exec nc -ll -p "$PORT" -e /bin/stand-in.sh "$PROTOCOL"
EOF
chmod +x "$tmp/listener/listen"
cp "$root/tests/image/stand-in.sh" "$tmp/listener/stand-in.sh"
for service in db:postgres:5432 cache:redis:6379; do
    name=${service%%:*} protocol=${service#*:}
    printf 'FROM %s\nCOPY listen stand-in.sh /bin/\nENV PORT=%s PROTOCOL=%s\nCMD ["/bin/listen"]\n' \
        "$busybox" "${protocol#*:}" "${protocol%:*}" >"$tmp/listener/Containerfile"
    busybox_image "localhost/$prefix-$name:test" "$tmp/listener" ||
        { fail "building the $name test image"; finish; exit; }
done

project=$prefix
app=${project}_app_1
db=${project}_db_1
cache=${project}_cache_1
compose() {
    (cd "$root/examples/compose" &&
        DB_IMAGE=localhost/$prefix-db:test CACHE_IMAGE=localhost/$prefix-cache:test \
            APP_BASE_IMAGE=$busybox podman-compose -p "$project" -f compose.yaml "$@")
}
remove_images() {
    podman rmi -f "localhost/${project}_app:latest" "localhost/$prefix-db:test" \
        "localhost/$prefix-cache:test" >/dev/null 2>&1
}
trap 'compose down -t 0 >/dev/null 2>&1; cleanup; remove_images' EXIT

# podman-compose builds the app's image (the example's Containerfile, server and www) and starts
# db, cache, then app on the network ${project}_default, each reachable by its service name.
if compose up -d >"$tmp/up.out" 2>&1; then
    pass "podman-compose up: the example's app image builds and its three containers start"
else
    fail "podman-compose up failed"
    sed 's/^/    | /' "$tmp/up.out"
    finish
    exit
fi

if poll 30 logged "$app" "postgres://db: not ready" && poll 10 logged "$app" "redis://cache: not ready" &&
    ! logged "$app" "server: started"; then
    pass "app waits while neither db nor cache listens"
else
    fail "app did not report db and cache not ready (or started its server)" "$app"
fi

podman exec "$db" sh -c 'echo starting >/tmp/state && touch /tmp/listen'
if poll 20 logged "$app" "the database system is starting up (57P03)" && ! logged "$app" "server: started" &&
    [ "$(state "$app")" = running ]; then
    pass "db listens but is starting up: app sees 57P03 and waits"
else
    fail "after db listened starting up: wanted its 57P03 and no server yet" "$app" "$db"
fi

podman exec "$db" sh -c 'echo ready >/tmp/state'
if poll 20 logged "$app" "postgres://db: ready" && ! logged "$app" "server: started" &&
    [ "$(state "$app")" = running ]; then
    pass "db serves: app sees it ready and still waits for cache"
else
    fail "after db served: wanted 'postgres://db: ready' and no server yet" "$app" "$db"
fi

podman exec "$cache" touch /tmp/listen
if poll 20 logged "$app" "server: started"; then
    podman logs "$app" >"$tmp/app.log" 2>&1
    if lines_in_order "$tmp/app.log" "postgres://db: ready" "server: started" &&
        lines_in_order "$tmp/app.log" "redis://cache: ready" "server: started" &&
        grep -qF "server: started as 65534" "$tmp/app.log"; then
        pass "cache listens: the server starts after both were ready, as 65534"
    else
        fail "app's log is not in the order db ready, cache ready, server started" "$app"
    fi
else
    fail "the server did not start after db and cache listened" "$app" "$cache"
fi

# The server answers by its service name, from the db container.
fetch() { podman exec "$db" wget -q -O "/tmp/page" "http://app:8080/" >/dev/null 2>&1; }
if poll 10 fetch && [ "$(podman exec "$db" cat /tmp/page)" = "orders: up" ]; then
    pass "the app's server answers http://app:8080/"
else
    fail "the app's server did not answer http://app:8080/" "$app"
fi

finish
