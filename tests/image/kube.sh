#!/bin/sh
# tests/image/kube.sh: every manifest of examples/kubernetes played with `podman kube play`, its pod
# template as a Pod (tests/image/kube-pod.py says why), on a podman network of its own where
# the names the initContainer waits for are network aliases of containers started later, one
# after the other. Checked for each: while a dependency is missing the initContainer waits and
# the app container is created but not started; once the last one is there the initContainer
# exits 0 and only then does the app start (podman's events give the order).
#
# The app images are replaced by a busybox image that prints a line and exits 0; the aliases are
# answered by busybox containers: httpd where a TCP port is waited for, and where a protocol is,
# tests/image/stand-in.sh under `nc -ll -e`, answering with the bytes of a real MySQL, PostgreSQL,
# ZooKeeper or gRPC server in a state the test sets (no image of the real servers can be pulled
# here; tests/{mysql,postgres,zookeeper,grpc}.rs run the probe against the servers themselves).
#
# Run by test.sh inside tests/image/netns.sh (a private network namespace).
set -u
# shellcheck source=tests/image/scenario.sh
. "$(dirname "$0")/scenario.sh"

# podman 4.3 builds the pause image of a pod's infra container from catatonit.
if ! command -v catatonit >/dev/null 2>&1 && [ ! -x /usr/libexec/podman/catatonit ] && [ ! -x /usr/lib/podman/catatonit ]; then
    echo "catatonit is needed for the pods' infra containers (apt-get install catatonit)" >&2
    exit 77
fi

# A Python with PyYAML: python3's own, else the one podman-compose runs on (PyYAML is its
# dependency).
python=
if python3 -c 'import yaml' 2>/dev/null; then
    python=python3
elif compose=$(command -v podman-compose 2>/dev/null); then
    interpreter=$(sed -n '1s/^#![[:space:]]*//p' "$compose")
    # shellcheck disable=SC2086 # "/usr/bin/env python3" is meant to split
    if [ -n "$interpreter" ] && $interpreter -c 'import yaml' 2>/dev/null; then python=$interpreter; fi
fi
if [ -z "$python" ]; then
    echo "PyYAML is needed (pip install podman-compose==1.0.6 brings it, or apt-get install python3-yaml)" >&2
    exit 77
fi

app_image=localhost/$prefix-app:test
mkdir -p "$tmp/app"
cat >"$tmp/app/app" <<'EOF'
#!/bin/sh
echo "app: started as $(id -u) with arguments: $*"
EOF
chmod +x "$tmp/app/app"
printf 'FROM %s\nCOPY app /bin/app\nUSER 65534:65534\nENTRYPOINT ["/bin/app"]\n' "$busybox" >"$tmp/app/Containerfile"
busybox_image "$app_image" "$tmp/app" || { fail "building the app test image"; finish; exit; }
server_image=localhost/$prefix-server:test
mkdir -p "$tmp/server"
cp "$root/tests/image/stand-in.sh" "$tmp/server/stand-in.sh"
printf 'FROM %s\nCOPY stand-in.sh /bin/stand-in.sh\n' "$busybox" >"$tmp/server/Containerfile"
busybox_image "$server_image" "$tmp/server" || { fail "building the stand-in server image"; finish; exit; }
trap 'cleanup; podman rmi -f "$app_image" "$server_image" >/dev/null 2>&1' EXIT

# play MANIFEST STEP...: play MANIFEST's pod template, then take one STEP after the other, checking
# after each that the app has not started. A STEP is "ALIAS SERVER TEXT": a container answering
# to the name ALIAS, after which the initContainer logs TEXT (any words; none on the last step,
# after which the app must start). SERVER is "-" (no port), a PORT (httpd listens on it) or
# PROTOCOL:PORT:STATE (stand-in.sh answers as PROTOCOL in STATE). The STEP "=N STATE TEXT"
# instead puts the stand-in of step N into STATE.
played=
play() {
    manifest=$root/examples/kubernetes/$1
    shift
    n=$(basename "$manifest" .yaml)
    pod=$prefix-$n
    net=$prefix-$n
    played="$played $n"
    # shellcheck disable=SC2086 # the interpreter may be "/usr/bin/env python3"
    if ! $python "$root/tests/image/kube-pod.py" "$manifest" "$pod" "$app_image" "$tmp/$n.yaml" >"$tmp/$n.names"; then
        fail "$n: could not turn the manifest into a Pod"
        return
    fi
    init=$(sed -n 's/^init //p' "$tmp/$n.names")
    app=$(sed -n 's/^app //p' "$tmp/$n.names")
    podman network create "$net" >/dev/null || { fail "$n: podman network create"; return; }

    # kube play starts the pod and returns once the init container has exited and the app started.
    podman kube play --network "$net" "$tmp/$n.yaml" >"$tmp/$n.play" 2>&1 &
    play_pid=$!
    if poll 60 logged "$init" "not ready" && [ "$(state "$app")" = created ]; then
        pass "$n: the initContainer waits, the app container is created but not started"
    else
        fail "$n: wanted the initContainer waiting and the app only created (app: '$(state "$app")')" "$init"
    fi

    step=0
    for spec in "$@"; do
        step=$((step + 1))
        # shellcheck disable=SC2086 # the step's words are meant to split
        set -- $spec
        alias=$1 server=$2
        shift 2
        text=$*
        case "$alias:$server" in
            =*)
                shown="step ${alias#=}'s server is $server"
                podman exec "$pod-dep${alias#=}" sh -c "echo $server >/tmp/state"
                ;;
            *:-)
                shown=$alias
                podman run -d --name "$pod-dep$step" --network "$net" --network-alias "$alias" "$busybox" sleep 600 >/dev/null
                ;;
            *:*:*:*)
                protocol=${server%%:*} port=${server#*:}
                state=${port#*:} port=${port%:*}
                shown="$alias:$port ($protocol, $state)"
                podman run -d --name "$pod-dep$step" --network "$net" --network-alias "$alias" "$server_image" \
                    sh -c "echo $state >/tmp/state && exec nc -ll -p $port -e /bin/stand-in.sh $protocol" >/dev/null
                ;;
            *)
                shown=$alias:$server
                podman run -d --name "$pod-dep$step" --network "$net" --network-alias "$alias" "$busybox" httpd -f -p "$server" -h /tmp >/dev/null
                ;;
        esac
        [ -n "$text" ] || break
        if poll 20 logged "$init" "$text" && [ "$(state "$app")" = created ]; then
            pass "$n: $shown, the initContainer logs '$text', the app still waits"
        else
            fail "$n: after $shown, wanted '$text' and the app not started (app: '$(state "$app")')" "$init"
        fi
    done

    if poll 30 sh -c "! kill -0 $play_pid 2>/dev/null"; then
        wait "$play_pid"
        rc=$?
    else
        rc=timeout
    fi
    podman events --stream=false --since 10m --format '{{.Status}} {{.Name}} {{.ContainerExitCode}};' \
        >"$tmp/$n.events" 2>/dev/null
    if [ "$rc" = 0 ] && poll 10 logged "$app" "app: started as 65534" &&
        grep -qxF "died $init 0;" "$tmp/$n.events" && [ "$(grep -c "^died $init " "$tmp/$n.events")" -eq 1 ] &&
        lines_in_order "$tmp/$n.events" "died $init 0;" "start $app 0;"; then
        pass "$n: after $shown the initContainer exits 0 once, and only then the app starts"
    else
        fail "$n: after $shown: kube play exited $rc; wanted the initContainer to exit 0, then the app to start" "$app"
        sed 's/^/    play | /' "$tmp/$n.play"
        grep -F -e "$init" -e "$app" "$tmp/$n.events" | sed 's/^/    event | /'
    fi
    podman pod rm -f -t 0 "$pod" >/dev/null 2>&1
}

# A server that accepts connections but turns clients away (or has no quorum, or is starting up)
# keeps the app waiting: each scenario has one before the server serves.
play mysql-app.yaml \
    "mysql-0.mysql.shop mysql:3306:busy 1040 Too many connections" \
    "=1 ready mysql://mysql-0.mysql.shop: ready" \
    "mysql-read.shop mysql:3306:ready"
play zookeeper-quorum.yaml \
    "zookeeper-headless.shop zk:2181:busy only 0 of 2 addresses are ready; zookeeper: This ZooKeeper instance is not currently serving requests" \
    "zookeeper-headless.shop zk:2181:ready only 1 of 2 addresses are ready; zookeeper: This ZooKeeper" \
    "=1 ready"
play zookeeper-init-job.yaml \
    "zookeeper-headless.shop zk:2181:ready only 1 of 2 addresses are ready; the name has fewer addresses" \
    "zookeeper-headless.shop zk:2181:busy only 1 of 2 addresses are ready; zookeeper: This ZooKeeper" \
    "=2 ready"
play postgres-app.yaml \
    "postgres.shop postgres:5432:starting the database system is starting up (57P03)" \
    "=1 ready"
play grpc-app.yaml \
    "payments.shop grpc:50051:busy grpc: NOT_SERVING" \
    "=1 ready"

# A manifest added to the examples must get its scenario here too.
for manifest in "$root"/examples/kubernetes/*.yaml; do
    case " $played " in
        *" $(basename "$manifest" .yaml) "*) ;;
        *) fail "$(basename "$manifest") is not played by tests/image/kube.sh" ;;
    esac
done

finish
