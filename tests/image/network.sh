#!/bin/sh
# tests/image/network.sh: the image on a podman network with aardvark-dns, the way a container
# waits for another in a pod or a compose project. It waits for a container name that appears
# later and is ready about one interval (1 s) after aardvark-dns first answers the name; it exits
# 1 at its deadline when the name never appears; it exits 143 at once on `podman stop`. The
# measured latencies are printed.
#
# Run by test.sh inside tests/image/netns.sh (a private network namespace).
set -u
# shellcheck source=tests/image/scenario.sh
. "$(dirname "$0")/scenario.sh"

net=$prefix-net
busybox_base || { fail "building the busybox test image"; finish; exit; }
podman network create "$net" >/dev/null || { fail "podman network create $net"; finish; exit; }
gateway=$(podman network inspect --format '{{range .Subnets}}{{.Gateway}}{{end}}' "$net")

# --- a name that appears later ----------------------------------------------------------------
waiter=$prefix-waiter
target=$prefix-target
podman run -d --name "$waiter" --network "$net" "$image" --timeout 60s "$target" >/dev/null
# Start the target only once the waiter has seen that the name does not exist yet.
if poll 20 logged "$waiter" "$target: not ready: no such name (NXDOMAIN)"; then
    pass "waiter: the name of a container not yet started is NXDOMAIN"
else
    fail "waiter did not report NXDOMAIN for $target" "$waiter"
fi
started=$(now_ms)
podman run -d --name "$target" --network "$net" "$busybox" sleep 600 >/dev/null
# The moment aardvark-dns answers the name: ask it directly, every 20 ms.
answered=
end=$((started + 20000))
while [ "$(now_ms)" -lt "$end" ]; do
    if /bin/busybox nslookup -type=a "$target" "$gateway" >/dev/null 2>&1; then
        answered=$(now_ms)
        break
    fi
    sleep 0.02
done
rc=$(timeout 30 podman wait "$waiter")
finished=$(podman container inspect --format '{{.State.FinishedAt.UnixNano}}' "$waiter")
finished=$((finished / 1000000))
if [ -z "$answered" ]; then
    fail "aardvark-dns never answered $target"
elif [ "$rc" = 0 ] && logged "$waiter" "$target: ready after"; then
    latency=$((finished - answered))
    # About one interval; two when the upstream's NXDOMAIN wins musl's race once (both
    # nameservers are asked at once, the first answer counts). A generous bound: timing belongs in
    # bench/.
    if [ "$latency" -lt 3000 ]; then
        pass "waiter ready ${latency} ms after aardvark-dns first answered (interval 1 s; $((answered - started)) ms after the target's start began)"
    else
        fail "waiter ready only ${latency} ms after aardvark-dns first answered (interval 1 s)" "$waiter"
    fi
else
    fail "waiter exited $rc, wanted 0 with '$target: ready after'" "$waiter"
fi

# --- a name that never appears: exit 1 at the deadline -----------------------------------------
deadline=$prefix-deadline
t0=$(now_ms)
podman run --name "$deadline" --network "$net" "$image" --timeout 2s "$prefix-never" >/dev/null 2>&1
rc=$?
took=$(($(now_ms) - t0))
if [ "$rc" -eq 1 ] && logged "$deadline" "deadline of 2s passed" &&
    logged "$deadline" "$prefix-never: not ready at the deadline: no such name (NXDOMAIN)" && [ "$took" -lt 15000 ]; then
    pass "never-appearing name: exit 1 at the 2 s deadline, NXDOMAIN as the reason (podman run took ${took} ms)"
else
    fail "never-appearing name: exit $rc after ${took} ms, wanted 1 at the 2 s deadline" "$deadline"
fi

# --- podman stop: exit 143 at once -------------------------------------------------------------
stopped=$prefix-stop
podman run -d --name "$stopped" --network "$net" "$image" "$prefix-never" >/dev/null
# Stop only once it is waiting (lookups going on): SIGTERM is then taken by its signal thread.
if poll 20 logged "$stopped" "$prefix-never: not ready"; then
    t0=$(now_ms)
    podman stop -t 20 "$stopped" >/dev/null 2>&1
    took=$(($(now_ms) - t0))
    rc=$(podman container inspect --format '{{.State.ExitCode}}' "$stopped")
    finished=$(podman container inspect --format '{{.State.FinishedAt.UnixNano}}' "$stopped")
    exited=$((finished / 1000000 - t0))
    # The grace period is 20 s: well under it means SIGTERM ended it, not the SIGKILL after.
    if [ "$rc" -eq 143 ] && logged "$stopped" "interrupted by SIGTERM" && [ "$took" -lt 5000 ]; then
        pass "podman stop: exit 143, the container exited ${exited} ms after the stop began (podman stop returned after ${took} ms)"
    else
        fail "podman stop: exit $rc after ${took} ms, wanted 143 well within the 20 s grace period" "$stopped"
    fi
else
    fail "the container to stop never reported its target not ready" "$stopped"
fi

finish
