#!/usr/bin/env bash
# db.sh: private MariaDB and memcached instances under one directory, for `make run` and the
# integration tests. Own datadir, socket, ports and pidfiles: the system's services (and their
# /etc/mysql configuration) are never read, used or touched.
#
#   scripts/db.sh start DIR MYSQL_PORT MEMCACHED_PORT [mariadb|memcached]
#       Creates the datadir on first use, starts both servers (or only the one named) on
#       127.0.0.1 (a server whose pidfile names a live process is left running), waits for
#       them with a deadline, then creates database `firefly`, user firefly/firefly and loads
#       scripts/schema.sql. Prints `mariadb: 127.0.0.1:PORT (pid N)` and
#       `memcached: 127.0.0.1:PORT (pid N)`.
#   scripts/db.sh stop DIR
#       SIGTERM to the PID in each pidfile, SIGKILL if it is still there at the deadline.
#   scripts/db.sh status DIR
#       One line per server; exits 0 when both run, 3 otherwise.
#
# Layout: DIR/mysql/{data/,sock,pid,err.log,install.log}, DIR/memcached.{pid,log}.
set -euo pipefail

readonly START_MS=30000 STOP_MS=30000 KILL_MS=5000
schema="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/schema.sql"
readonly schema

die() {
    echo "db.sh: $*" >&2
    exit 1
}

now_ms() {
    local us=${EPOCHREALTIME//[!0-9]/}
    echo $((10#$us / 1000))
}

# Whether PID is a live process, named NAME when NAME is given, so that a recycled PID in a
# stale pidfile is never taken for one of ours. A zombie whose parent has not reaped it yet
# counts as gone, but only once its last thread has exited: until then the other threads
# still hold its files, such as the listening socket.
alive() {
    local pid=$1 name=${2:-} stat comm tasks
    [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    if [ "${stat:0:1}" = Z ]; then
        tasks=("/proc/$pid/task/"*)
        [ "${#tasks[@]}" -gt 1 ] || return 1
    fi
    [ -z "$name" ] && return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$name" ]
}

# Prints the PID in pidfile $1 if it is a live process named $2; prints nothing otherwise.
running_pid() {
    local pid=""
    [ -r "$1" ] && pid=$(cat "$1" 2>/dev/null)
    if alive "$pid" "$2"; then echo "$pid"; fi
}

# Waits until `$@` succeeds, polling every 0.1 s, for at most $1 ms. Fails at the deadline.
wait_for() {
    local deadline=$(($(now_ms) + $1))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The value of option $2 (`--port=N` or `-p N`) in the command line of PID $1.
cmdline_opt() {
    local prev="" arg
    while IFS= read -r -d '' arg; do
        case $arg in
        "$2"=*) echo "${arg#*=}" && return 0 ;;
        *) [ "$prev" = "$2" ] && echo "$arg" && return 0 ;;
        esac
        prev=$arg
    done <"/proc/$1/cmdline"
}

# Prints the last lines of a log file, to say why a server did not come up.
show_log() {
    echo "---- $1 (last 40 lines) ----" >&2
    tail -n 40 "$1" >&2 2>/dev/null || echo "(missing)" >&2
}

check_port() {
    if ! [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] || (($1 > 65535)); then die "invalid port \"$1\""; fi
}

# ---- MariaDB ----

admin() {
    mariadb-admin --no-defaults --socket="$sock" -uroot --connect-timeout=2 "$@"
}

mysql_ready() {
    admin ping >/dev/null 2>&1
}

# Whether the mariadbd we launched as $1 is still there (or has written its pidfile).
mysql_starting() {
    alive "$1" || [ -n "$(running_pid "$mdir/pid" mariadbd)" ]
}

mysql_install() {
    local user
    user=$(id -un)
    [ -e "$mdir/data/mysql/global_priv.frm" ] && return 0
    # A half-made datadir (an install that was interrupted) is started over.
    rm -rf "$mdir/data"
    mkdir -p "$mdir/data"
    # --rpm: without it, mariadb-install-db run as root chowns the system's
    # /usr/lib/mysql/plugin/auth_pam_tool_dir to --user, and fails when `uname -n` does not
    # resolve (containers). It changes nothing else but the messages printed.
    if ! mariadb-install-db --no-defaults --rpm --datadir="$mdir/data" --user="$user" \
        --auth-root-authentication-method=normal --skip-test-db >"$mdir/install.log" 2>&1; then
        show_log "$mdir/install.log"
        rm -rf "$mdir/data"
        die "mariadb-install-db failed"
    fi
}

mysql_launch() {
    local port=$1 pid deadline
    local args=(--no-defaults --datadir="$mdir/data" --socket="$sock" --port="$port"
        --bind-address=127.0.0.1 --pid-file="$mdir/pid" --log-error="$mdir/err.log"
        --skip-name-resolve --innodb-buffer-pool-size=64M)
    [ "$(id -u)" = 0 ] && args+=(--user=root)
    ! port_in_use "$port" || die "mariadb: port $port is already in use"
    mysql_install
    rm -f "$mdir/pid"
    # setsid: a daemon of its own session, out of reach of the caller's terminal and process
    # group. Not a process group leader here, so setsid execs in place and $! is mariadbd.
    setsid /usr/sbin/mariadbd "${args[@]}" </dev/null >>"$mdir/err.log" 2>&1 &
    pid=$!
    deadline=$(($(now_ms) + START_MS))
    until mysql_ready; do
        if ! mysql_starting "$pid"; then
            show_log "$mdir/err.log"
            die "mariadb: mariadbd exited during startup"
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then
            show_log "$mdir/err.log"
            kill -KILL "$pid" 2>/dev/null || true
            die "mariadb: not answering ping after $((START_MS / 1000)) s"
        fi
        sleep 0.1
    done
}

# Database, user and tables; every statement is idempotent, so this runs on every start.
mysql_setup() {
    local u
    {
        echo "CREATE DATABASE IF NOT EXISTS firefly CHARACTER SET utf8mb4;"
        for u in "'firefly'@'127.0.0.1'" "'firefly'@'localhost'"; do
            echo "CREATE USER IF NOT EXISTS $u IDENTIFIED BY 'firefly';"
            echo "GRANT ALL PRIVILEGES ON firefly.* TO $u;"
        done
    } | mariadb --no-defaults --socket="$sock" -uroot || die "mariadb: creating user firefly failed"
    mariadb --no-defaults --socket="$sock" -uroot firefly <"$schema" ||
        die "mariadb: loading $schema failed"
}

mysql_start() {
    local port=$1 pid running
    mkdir -p "$mdir"
    # sun_path holds 107 characters and a NUL.
    ((${#sock} <= 107)) || die "mariadb: socket path too long (${#sock} > 107): $sock"
    pid=$(running_pid "$mdir/pid" mariadbd)
    if [ -n "$pid" ]; then
        running=$(cmdline_opt "$pid" --port) || true
        [ "$running" = "$port" ] || die "mariadb: already running (pid $pid) on port $running"
    else
        mysql_launch "$port"
        pid=$(running_pid "$mdir/pid" mariadbd)
        [ -n "$pid" ] || die "mariadb: answers ping but $mdir/pid names no mariadbd"
    fi
    mysql_setup
    echo "mariadb: 127.0.0.1:$port (pid $pid)"
}

# ---- memcached ----

# Whether a memcached on 127.0.0.1:$1 answers `version` within 2 s.
mc_answers() {
    local reply
    reply=$({
        exec 3<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'version\r\n' >&3 &&
            IFS= read -r -t 2 reply <&3 &&
            printf '%s' "$reply"
    } 2>/dev/null) || return 1
    [[ $reply == VERSION* ]]
}

# Ready: our memcached wrote its pidfile (which it does only after binding the port, so the
# port is its own) and answers.
mc_ready() {
    [ -n "$(running_pid "$mcpid" memcached)" ] && mc_answers "$1"
}

memcached_start() {
    local port=$1 pid running
    local args=(-l 127.0.0.1 -p "$port" -U 0 -m 64 -P "$mcpid" -d -v)
    pid=$(running_pid "$mcpid" memcached)
    if [ -n "$pid" ]; then
        running=$(cmdline_opt "$pid" -p) || true
        [ "$running" = "$port" ] || die "memcached: already running (pid $pid) on port $running"
    else
        [ "$(id -u)" = 0 ] && args+=(-u root)
        ! port_in_use "$port" || die "memcached: port $port is already in use"
        rm -f "$mcpid"
        # -v: errors (such as a port taken meanwhile) go to the log; silent when all is well.
        memcached "${args[@]}" </dev/null >>"$dir/memcached.log" 2>&1 ||
            die "memcached: failed to start"
        if ! wait_for "$START_MS" mc_ready "$port"; then
            show_log "$dir/memcached.log"
            die "memcached: not answering on 127.0.0.1:$port after $((START_MS / 1000)) s"
        fi
        pid=$(running_pid "$mcpid" memcached)
    fi
    echo "memcached: 127.0.0.1:$port (pid $pid)"
}

# ---- stop and status ----

# Stops the process named $2 in pidfile $1 (label $3): SIGTERM, then SIGKILL at the deadline.
stop_one() {
    local pidfile=$1 name=$2 label=$3 pid
    pid=$(running_pid "$pidfile" "$name")
    if [ -z "$pid" ]; then
        rm -f "$pidfile"
        echo "$label: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$STOP_MS" not_alive "$pid" "$name"; then
        echo "$label: pid $pid still running $((STOP_MS / 1000)) s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_for "$KILL_MS" not_alive "$pid" "$name" || die "$label: pid $pid survives SIGKILL"
    fi
    rm -f "$pidfile"
    echo "$label: stopped (pid $pid)"
}

not_alive() {
    ! alive "$@"
}

status_one() {
    local pidfile=$1 name=$2 label=$3 opt=$4 pid
    pid=$(running_pid "$pidfile" "$name")
    if [ -z "$pid" ]; then
        echo "$label: not running"
        return 1
    fi
    echo "$label: 127.0.0.1:$(cmdline_opt "$pid" "$opt" || true) (pid $pid)"
}

usage() {
    echo "usage: $0 start DIR MYSQL_PORT MEMCACHED_PORT [mariadb|memcached]" >&2
    echo "       $0 stop DIR | status DIR" >&2
    exit 2
}

main() {
    local cmd=${1:-} rc=0
    case $cmd in
    start)
        [ $# -eq 4 ] || [ $# -eq 5 ] || usage
        case ${5:-both} in mariadb | memcached | both) ;; *) usage ;; esac
        check_port "$3"
        check_port "$4"
        mkdir -p "$2"
        ;;
    stop | status) [ $# -eq 2 ] || usage ;;
    *) usage ;;
    esac
    if [ -d "$2" ]; then dir=$(cd "$2" && pwd -P); else dir=$2; fi
    mdir=$dir/mysql
    sock=$mdir/sock
    mcpid=$dir/memcached.pid
    case $cmd in
    start)
        if [ "${5:-both}" != memcached ]; then mysql_start "$3"; fi
        if [ "${5:-both}" != mariadb ]; then memcached_start "$4"; fi
        ;;
    stop)
        stop_one "$mcpid" memcached memcached
        stop_one "$mdir/pid" mariadbd mariadb
        ;;
    status)
        status_one "$mdir/pid" mariadbd mariadb --port || rc=3
        status_one "$mcpid" memcached memcached -p || rc=3
        return "$rc"
        ;;
    esac
}

main "$@"
