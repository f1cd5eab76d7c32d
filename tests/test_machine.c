/*
 * test_machine.c - the machine-limit reader and the default budgets (leanpix/machine.h),
 * on fake /proc and /sys trees: cgroup v1 and v2, limits set on parents, a container whose
 * mount root is its own group, "max" and "-1", missing files and garbage contents.
 */
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>

#define MIB (1ull << 20)

/* A fresh fake root for one case. */
static const char *fresh_root(const char *name)
{
    const char *root = lpt_path(name);
    assert_int_equal(lpt_run("rm -rf '%s' && mkdir -p '%s'", root, root), 0);
    return root;
}

/* Writes root/rel, creating its directories. */
static void put(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    assert_int_equal(lpt_run("mkdir -p '%s'", path), 0);
    *slash = '/';
    lpt_write_file(path, text, strlen(text));
}

static const char *V1_MOUNTS =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void v1_limit_on_parent(void **state)
{
    (void)state;
    const char *r = fresh_root("v1");
    put(r, "/proc/meminfo", "MemTotal:        8388608 kB\nMemFree:  100 kB\n");
    put(r, "/proc/self/cgroup", "5:pids:/a/b\n4:memory:/a/b\n2:cpu,cpuacct:/a/b\n0::/\n");
    put(r, "/proc/self/mountinfo", V1_MOUNTS);
    put(r, "/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "9223372036854771712\n");
    put(r, "/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "134217728\n");
    put(r, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(r, "/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us", "150000\n");
    put(r, "/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us", "100000\n");
    put(r, "/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "-1\n");
    put(r, "/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 4);
    assert_int_equal(m.ram, 8ull << 30);
    assert_int_equal(m.cgroup_mem, 128 * MIB);
    assert_int_equal(m.cgroup_mem_version, 1);
    assert_string_equal(m.cgroup_mem_file, "/sys/fs/cgroup/memory/a/memory.limit_in_bytes");
    assert_int_equal(m.mem, 128 * MIB);
    assert_string_equal(m.memory_group, "/sys/fs/cgroup/memory/a/b");
    assert_int_equal(m.memory_group_version, 1);
    assert_true(m.cgroup_cpus > 1.49 && m.cgroup_cpus < 1.51);
    assert_int_equal(m.cpus, 2);  /* 1.5 CPUs of quota: two threads, each throttled a bit */
    assert_string_equal(m.cgroup_cpu_file, "/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us");

    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_CONVERT, 0, &b);
    assert_int_equal(b.bytes, 80 * MIB);  /* 75% of 128 MiB minus the 16 MiB baseline */
    assert_non_null(strstr(b.why, "cgroup v1 memory.limit_in_bytes 128 MiB at /sys/fs/cgroup/memory/a;"));
    assert_non_null(strstr(b.why, "75% minus 16 MiB baseline"));
    lp_budget_default(&m, LP_BUDGET_BATCH, 0, &b);
    assert_int_equal(b.bytes, 96 * MIB);
    lp_budget_default(&m, LP_BUDGET_SERVE, 80 * MIB, &b);
    assert_int_equal(b.bytes, 80 * MIB);
    assert_int_equal(lp_default_workers(&m, 0), 2);
    assert_int_equal(lp_default_workers(&m, 1), 1);
}

static void v1_hierarchical_limit_above_the_mount(void **state)
{
    (void)state;
    /* a container: its group is the mount root and its path reads "/"; the limit is set
     * on an ancestor it cannot see, which only memory.stat reveals */
    const char *r = fresh_root("v1c");
    put(r, "/proc/meminfo", "MemTotal: 8388608 kB\n");
    put(r, "/proc/self/cgroup", "4:memory:/\n");
    put(r, "/proc/self/mountinfo",
        "35 31 0:32 /kubepods/pod1/ctr /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n");
    put(r, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(r, "/sys/fs/cgroup/memory/memory.stat",
        "cache 0\nrss 100\nhierarchical_memory_limit 268435456\nhierarchical_memsw_limit 9223372036854771712\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 2);
    assert_int_equal(m.cgroup_mem, 256 * MIB);
    assert_string_equal(m.cgroup_mem_file, "/sys/fs/cgroup/memory/memory.stat");
    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_BATCH, 0, &b);
    assert_int_equal(b.bytes, 192 * MIB);
    assert_non_null(strstr(b.why, "hierarchical_memory_limit 256 MiB"));
}

static void container_path_under_mount_root(void **state)
{
    (void)state;
    /* no cgroup namespace: the path is the host's, the mount root the container's group */
    const char *r = fresh_root("v1d");
    put(r, "/proc/self/cgroup", "4:memory:/docker/abc/sub\n");
    put(r, "/proc/self/mountinfo",
        "35 31 0:32 /docker/abc /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n");
    put(r, "/sys/fs/cgroup/mem ory/sub/memory.limit_in_bytes", "209715200");
    put(r, "/sys/fs/cgroup/mem ory/memory.limit_in_bytes", "314572800");
    lp_machine m;
    lp_machine_read_at(&m, r, 1);
    assert_int_equal(m.ram, 0);  /* no meminfo: unknown */
    assert_int_equal(m.cgroup_mem, 200 * MIB);
    assert_int_equal(m.mem, 200 * MIB);
    assert_string_equal(m.memory_group, "/sys/fs/cgroup/mem ory/sub");
    assert_int_equal(m.cpus, 1);
}

static void v2_max_high_and_cpu_max(void **state)
{
    (void)state;
    const char *r = fresh_root("v2");
    put(r, "/proc/meminfo", "MemTotal: 16777216 kB\n");
    put(r, "/proc/self/cgroup", "0::/user.slice/app.service\n");
    put(r, "/proc/self/mountinfo",
        "24 19 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
    put(r, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(r, "/sys/fs/cgroup/user.slice/cgroup.controllers", "cpu memory pids\n");
    put(r, "/sys/fs/cgroup/user.slice/app.service/cgroup.controllers", "cpu memory pids\n");
    put(r, "/sys/fs/cgroup/user.slice/app.service/memory.max", "max\n");
    put(r, "/sys/fs/cgroup/user.slice/app.service/memory.high", "104857600\n");
    put(r, "/sys/fs/cgroup/user.slice/memory.max", "209715200\n");
    put(r, "/sys/fs/cgroup/user.slice/memory.high", "max\n");
    put(r, "/sys/fs/cgroup/user.slice/app.service/cpu.max", "max 100000\n");
    put(r, "/sys/fs/cgroup/user.slice/cpu.max", "50000 100000\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 8);
    assert_int_equal(m.cgroup_mem, 100 * MIB);
    assert_int_equal(m.cgroup_mem_version, 2);
    assert_string_equal(m.cgroup_mem_file, "/sys/fs/cgroup/user.slice/app.service/memory.high");
    assert_string_equal(m.memory_group, "/sys/fs/cgroup/user.slice/app.service");
    assert_int_equal(m.memory_group_version, 2);
    assert_true(m.cgroup_cpus > 0.49 && m.cgroup_cpus < 0.51);
    assert_int_equal(m.cpus, 1);
    assert_string_equal(m.cgroup_cpu_file, "/sys/fs/cgroup/user.slice/cpu.max");
    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_SERVE, 80 * MIB, &b);
    assert_int_equal(b.bytes, 100 * MIB / 100 * 75 + 100 * MIB % 100 * 75 / 100 - 16 * MIB);
    assert_non_null(strstr(b.why, "below the default"));
}

static void v2_without_memory_controller_and_no_limits(void **state)
{
    (void)state;
    /* this CI machine's shape: v2 mounted without controllers, v1 memory unlimited */
    const char *r = fresh_root("none");
    put(r, "/proc/meminfo", "MemTotal: 8388608 kB\n");
    put(r, "/proc/self/cgroup", "4:memory:/\n0::/\n");
    put(r, "/proc/self/mountinfo", V1_MOUNTS);
    put(r, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(r, "/sys/fs/cgroup/unified/cgroup.controllers", "\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 2);
    assert_int_equal(m.cgroup_mem, 0);
    assert_int_equal(m.mem, 8ull << 30);
    assert_int_equal(m.memory_group_version, 1);
    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_BATCH, 0, &b);
    assert_int_equal(b.bytes, 4ull << 30);  /* half of RAM without a cgroup limit */
    assert_non_null(strstr(b.why, "RAM 8.0 GiB"));
    lp_budget_default(&m, LP_BUDGET_SERVE, 80 * MIB, &b);
    assert_int_equal(b.bytes, 80 * MIB);
}

static void garbage_and_missing_files(void **state)
{
    (void)state;
    static const char *const bad[] = {"12abc\n", "-5\n", "99999999999999999999999\n", "",
                                      "\x01\x02\xff", " \n", "0\n", "max max\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *r = fresh_root("garbage");
        put(r, "/proc/meminfo", "MemTotal: 1048576 kB\n");
        put(r, "/proc/self/cgroup", "4:memory:/a\n2:cpu,cpuacct:/a\n");
        put(r, "/proc/self/mountinfo", V1_MOUNTS);
        put(r, "/sys/fs/cgroup/memory/a/memory.limit_in_bytes", bad[i]);
        put(r, "/sys/fs/cgroup/memory/a/memory.stat", bad[i]);
        put(r, "/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", bad[i]);
        put(r, "/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n");
        lp_machine m;
        lp_machine_read_at(&m, r, 3);
        assert_int_equal(m.cgroup_mem, 0);
        assert_int_equal(m.mem, 1ull << 30);
        assert_true(m.cgroup_cpus == 0);
        assert_int_equal(m.cpus, 3);
    }
    /* garbage in the /proc files themselves */
    const char *r = fresh_root("garbage2");
    put(r, "/proc/meminfo", "MemTotal: lots\n");
    put(r, "/proc/self/cgroup", "memory\n::\n4:memory:relative\n:::::\n");
    put(r, "/proc/self/mountinfo", "- cgroup\n1 2 3\n35 31 0:32 / /x - cgroup\n\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 2);
    assert_int_equal(m.ram, 0);
    assert_int_equal(m.cgroup_mem, 0);
    assert_int_equal(m.mem, 0);
    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_CONVERT, 0, &b);
    assert_int_equal(b.bytes, 0);  /* nothing known: no budget rather than a made-up one */
    lp_budget_default(&m, LP_BUDGET_SERVE, 80 * MIB, &b);
    assert_int_equal(b.bytes, 80 * MIB);
    /* nothing at all */
    r = fresh_root("empty");
    lp_machine_read_at(&m, r, 0);
    assert_int_equal(m.mem, 0);
    assert_true(m.cpus >= 1);
}

static void small_limits_keep_a_floor(void **state)
{
    (void)state;
    const char *r = fresh_root("small");
    put(r, "/proc/self/cgroup", "4:memory:/\n");
    put(r, "/proc/self/mountinfo", V1_MOUNTS);
    put(r, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "16777216\n");
    lp_machine m;
    lp_machine_read_at(&m, r, 1);
    lp_budget b;
    lp_budget_default(&m, LP_BUDGET_CONVERT, 0, &b);
    assert_int_equal(b.bytes, 8 * MIB);
}

static void the_real_machine(void **state)
{
    (void)state;
    lp_machine m;
    lp_machine_read(&m);
    assert_true(m.ram > 0);
    assert_true(m.mem > 0 && m.mem <= m.ram);
    assert_true(m.cpus >= 1);
    char text[LP_BUDGET_WHY_MAX];
    lp_machine_describe_mem(&m, text, sizeof text);
    fprintf(stderr, "this machine: %s; %u effective CPUs\n", text, m.cpus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_limit_on_parent),
        cmocka_unit_test(v1_hierarchical_limit_above_the_mount),
        cmocka_unit_test(container_path_under_mount_root),
        cmocka_unit_test(v2_max_high_and_cpu_max),
        cmocka_unit_test(v2_without_memory_controller_and_no_limits),
        cmocka_unit_test(garbage_and_missing_files),
        cmocka_unit_test(small_limits_keep_a_floor),
        cmocka_unit_test(the_real_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
