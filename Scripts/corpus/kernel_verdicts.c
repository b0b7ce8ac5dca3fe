// The Linux kernel's verdict on each program of a BPF object, one program at a time.
//
//   kernel_verdicts OBJ.o
//
// For every program of the object, the object is opened again with only that program set to load
// (libbpf: maps created, CO-RE relocated against the running kernel), so a program the kernel
// refuses does not hide the verdicts of the others. Prints one JSON object per line:
//   {"program", "section", "type", "kernel": "accept"|"reject"|"error", "errno",
//    "message", "verified_insns", "verification_time_us", "tag", "expected_attach_type", "maps"}
// "tag" is the kernel's tag of the loaded program (BPF_OBJ_GET_INFO_BY_FD: a hash of its relocated
// instructions with map fds left out), empty when it did not load; "expected_attach_type" is the
// number libbpf sent in BPF_PROG_LOAD (it may change it while loading, e.g. usdt programs); "maps"
// lists the object's maps with the flags the kernel created them with ({"name", "flags"}).
// "reject" means the kernel's verifier refused the program (its log says why; "message" is the
// log's last meaningful line); "error" means the verifier did not refuse it — a log with only its
// closing statistics counts so ("message" then says what failed after it) — or the program could not be given to the verifier at
// all (libbpf could not open the object or type the section, a map or relocation failed, the
// kernel refused it with EPERM before verifying, ...): "message" is libbpf's last warning.
// Static functions in program sections (older loaders' objects, cilium's tail calls) are made
// global in a private copy so libbpf takes them as programs, and programs whose section names no
// type get the type all the object's typed programs share, if they share one (as cilium's own
// loader gives its tail calls the type of the entry program). Maps are not pinned, and maps left with max_entries 0 are sized to the number of CPUs (see
// open_object). Needs root (or CAP_BPF + CAP_PERFMON) and libbpf >= 1.0. Our own code: built by measure.sh.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char messages[1 << 16];
static size_t messages_len;

static int collect(enum libbpf_print_level level, const char *format, va_list args) {
	if (level == LIBBPF_DEBUG) return 0;
	if (messages_len < sizeof(messages) - 1) {
		int n = vsnprintf(messages + messages_len, sizeof(messages) - messages_len, format, args);
		if (n > 0) messages_len += (size_t)n;
		if (messages_len > sizeof(messages) - 1) messages_len = sizeof(messages) - 1;
	}
	return 0;
}

static void json_string(const char *s) {
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') printf("\\%c", c);
		else if (c == '\n') printf("\\n");
		else if (c == '\t') printf("\\t");
		else if (c < 0x20) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

// The last line of `text` that says something (skips blank lines, libbpf's log markers and the
// kernel's closing statistics), copied into `out`.
static void last_meaningful_line(const char *text, char *out, size_t size) {
	out[0] = 0;
	const char *end = text + strlen(text);
	while (end > text) {
		const char *line_end = end;
		while (line_end > text && (line_end[-1] == '\n' || line_end[-1] == ' ')) line_end--;
		const char *start = line_end;
		while (start > text && start[-1] != '\n') start--;
		end = start;
		size_t len = (size_t)(line_end - start);
		if (len == 0) continue;
		char line[1024];
		if (len >= sizeof(line)) len = sizeof(line) - 1;
		memcpy(line, start, len);
		line[len] = 0;
		if (strstr(line, "-- BEGIN PROG LOAD LOG --") || strstr(line, "-- END PROG LOAD LOG --") ||
		    strncmp(line, "processed ", 10) == 0 || strncmp(line, "verification time", 17) == 0 ||
		    strncmp(line, "stack depth", 11) == 0 || strstr(line, "failed to load object") ||
		    strstr(line, "failed to load program"))
			continue;
		snprintf(out, size, "%s", line);
		return;
	}
}

// Opens the object as its own loader would prepare it: nothing pinned (LIBBPF_PIN_BY_NAME maps are
// created afresh, so no bpffs is needed and nothing is left behind), and maps the object leaves
// with max_entries 0 for its user-space side to size (per-CPU counters in xdp-tools, ...) get
// the number of possible CPUs (arrays, hashes, devmaps, cpumaps, xskmaps, program arrays only:
// local storage maps must have 0).
// Older loaders' objects (iproute2, cilium's tail calls in sections such as "2/18") have static
// functions as programs, which libbpf refuses. A private copy of the object gets them global
// (nothing else changes); returns its path, or NULL when the object needs no change.
static char patched_path[] = "/tmp/kernel_verdicts.XXXXXX";
static const char *patch_static_programs(const char *path) {
	elf_version(EV_CURRENT);
	int in = open(path, O_RDONLY);
	if (in < 0) return NULL;
	int out = mkstemp(patched_path);
	if (out < 0) { close(in); return NULL; }
	char buffer[1 << 16];
	ssize_t n;
	while ((n = read(in, buffer, sizeof(buffer))) > 0) if (write(out, buffer, (size_t)n) != n) break;
	close(in);
	int changed = 0;
	Elf *elf = elf_begin(out, ELF_C_RDWR, NULL);
	Elf_Scn *scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB) continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t count = shdr.sh_size / shdr.sh_entsize;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    GELF_ST_BIND(sym.st_info) != STB_LOCAL || sym.st_shndx == SHN_UNDEF)
				continue;
			GElf_Shdr target;
			Elf_Scn *target_scn = elf_getscn(elf, sym.st_shndx);
			size_t strndx;
			if (!target_scn || !gelf_getshdr(target_scn, &target) || !(target.sh_flags & SHF_EXECINSTR) ||
			    elf_getshdrstrndx(elf, &strndx) != 0)
				continue;
			const char *name = elf_strptr(elf, strndx, target.sh_name);
			if (!name || strcmp(name, ".text") == 0) continue;
			sym.st_info = GELF_ST_INFO(STB_GLOBAL, STT_FUNC);
			gelf_update_sym(data, (int)i, &sym);
			changed = 1;
		}
		elf_flagdata(data, ELF_C_SET, ELF_F_DIRTY);
	}
	if (elf && changed) elf_update(elf, ELF_C_WRITE);
	if (elf) elf_end(elf);
	close(out);
	if (!changed) { unlink(patched_path); return NULL; }
	return patched_path;
}

// The type of the object's typed programs, when they all have one (cilium: sched_cls, or xdp for
// bpf_xdp.o): untyped programs (tail calls) are loaded as that type, as cilium's loader does.
static enum bpf_prog_type common_type = BPF_PROG_TYPE_UNSPEC;
static enum bpf_attach_type common_attach;

static struct bpf_object *open_object(const char *path) {
	struct bpf_object *object = bpf_object__open_file(path, NULL);
	if (!object || libbpf_get_error(object)) return NULL;
	if (common_type != BPF_PROG_TYPE_UNSPEC) {
		struct bpf_program *program;
		bpf_object__for_each_program(program, object) {
			if (bpf_program__type(program) == BPF_PROG_TYPE_UNSPEC) {
				bpf_program__set_type(program, common_type);
				bpf_program__set_expected_attach_type(program, common_attach);
			}
		}
	}
	struct bpf_map *map;
	bpf_object__for_each_map(map, object) {
		if (bpf_map__pin_path(map)) bpf_map__set_pin_path(map, NULL);
		enum bpf_map_type type = bpf_map__type(map);
		int sized_by_user = type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
			type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
			type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_DEVMAP || type == BPF_MAP_TYPE_DEVMAP_HASH ||
			type == BPF_MAP_TYPE_CPUMAP || type == BPF_MAP_TYPE_XSKMAP || type == BPF_MAP_TYPE_PROG_ARRAY;
		if (bpf_map__max_entries(map) == 0 && sized_by_user && !bpf_map__is_internal(map))
			bpf_map__set_max_entries(map, (__u32)libbpf_num_possible_cpus());
	}
	return object;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: kernel_verdicts OBJ.o\n");
		return 2;
	}
	const char *path = argv[1];
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	libbpf_set_print(collect);
	struct bpf_object *listing = open_object(path);
	if (!listing) {
		const char *patched = patch_static_programs(path);
		if (patched) {
			path = patched;
			listing = open_object(path);
		}
	}
	if (listing) {
		struct bpf_program *program;
		int mixed = 0;
		bpf_object__for_each_program(program, listing) {
			enum bpf_prog_type type = bpf_program__type(program);
			if (type == BPF_PROG_TYPE_UNSPEC) continue;
			if (common_type == BPF_PROG_TYPE_UNSPEC) {
				common_type = type;
				common_attach = bpf_program__expected_attach_type(program);
			} else if (type != common_type) mixed = 1;
		}
		if (mixed) common_type = BPF_PROG_TYPE_UNSPEC;
	}
	if (!listing) {
		char line[1024];
		last_meaningful_line(messages, line, sizeof(line));
		printf("{\"program\": null, \"kernel\": \"error\", \"errno\": %d, \"message\": ", errno);
		json_string(line[0] ? line : "libbpf cannot open the object");
		printf("}\n");
		return 0;
	}
	struct bpf_program *listed;
	int index = 0;
	bpf_object__for_each_program(listed, listing) {
		const char *name = bpf_program__name(listed);
		static char log[1 << 20];
		char message[1024] = "";
		const char *verdict = "accept";
		int error = 0;
		unsigned long long verified = 0, time_us = 0;
		char tag[2 * BPF_TAG_SIZE + 1] = "";
		int attach_type = -1;
		static char maps_json[1 << 14];
		maps_json[0] = 0;

		messages_len = 0;
		messages[0] = 0;
		struct bpf_object *object = open_object(path);
		if (!object) {
			verdict = "error";
			error = errno;
			last_meaningful_line(messages, message, sizeof(message));
		} else {
			struct bpf_program *program, *wanted = NULL;
			bpf_object__for_each_program(program, object) {
				if (strcmp(bpf_program__name(program), name) == 0) wanted = program;
				else bpf_program__set_autoload(program, false);
			}
			// A "?" section turns autoloading off: the program asked for is loaded all the same.
			bpf_program__set_autoload(wanted, true);
			log[0] = 0;
			bpf_program__set_log_buf(wanted, log, sizeof(log));
			bpf_program__set_log_level(wanted, 4); // BPF_LOG_STATS: the time and instruction count
			int rc = bpf_object__load(object);
			if (rc == 0) {
				struct bpf_prog_info info = {0};
				__u32 len = sizeof(info);
				if (bpf_prog_get_info_by_fd(bpf_program__fd(wanted), &info, &len) == 0) {
					verified = info.verified_insns;
					for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
				}
				attach_type = (int)bpf_program__expected_attach_type(wanted);
				// The flags each map was created with (BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, ...).
				struct bpf_map *map;
				size_t used = 0;
				bpf_object__for_each_map(map, object) {
					struct bpf_map_info map_info = {0};
					__u32 map_len = sizeof(map_info);
					if (bpf_map__fd(map) < 0 || bpf_map_get_info_by_fd(bpf_map__fd(map), &map_info, &map_len) != 0) continue;
					used += (size_t)snprintf(maps_json + used, sizeof(maps_json) - used, "%s{\"name\": \"%s\", \"flags\": %u}",
						used ? ", " : "", bpf_map__name(map), map_info.map_flags);
					if (used >= sizeof(maps_json)) break;
				}
				const char *t = strstr(log, "verification time ");
				if (t) time_us = strtoull(t + 18, NULL, 10);
			} else {
				error = -rc;
				bpf_object__close(object);
				// Again with the verifier's full log, to say why.
				messages_len = 0;
				messages[0] = 0;
				object = open_object(path);
				bpf_object__for_each_program(program, object) {
					if (strcmp(bpf_program__name(program), name) == 0) wanted = program;
					else bpf_program__set_autoload(program, false);
				}
				bpf_program__set_autoload(wanted, true);
				log[0] = 0;
				bpf_program__set_log_buf(wanted, log, sizeof(log));
				bpf_program__set_log_level(wanted, 1);
				bpf_object__load(object);
				if (log[0]) last_meaningful_line(log, message, sizeof(message));
				if (message[0]) {
					verdict = "reject";
				} else {
					// No log, or a log with only the verifier's closing statistics: the verifier
					// said nothing against the program, something before or after it failed (libbpf
					// filling a program array with programs not loaded, an attach target, ...).
					verdict = "error";
					char why[sizeof(message) - 64];
					last_meaningful_line(messages, why, sizeof(why));
					if (log[0]) snprintf(message, sizeof(message), "the verifier accepted it; then: %s", why);
					else snprintf(message, sizeof(message), "%s", why);
				}
			}
			bpf_object__close(object);
		}
		printf("{\"program\": ");
		json_string(name);
		printf(", \"index\": %d, \"section\": ", index++);
		json_string(bpf_program__section_name(listed));
		printf(", \"type\": ");
		json_string(libbpf_bpf_prog_type_str(bpf_program__type(listed)));
		printf(", \"kernel\": \"%s\", \"errno\": %d, \"message\": ", verdict, error);
		json_string(message);
		printf(", \"verified_insns\": %llu, \"verification_time_us\": %llu, \"tag\": ", verified, time_us);
		json_string(tag);
		printf(", \"expected_attach_type\": %d, \"maps\": [%s]}\n", attach_type, maps_json);
		fflush(stdout);
	}
	bpf_object__close(listing);
	if (path == patched_path) unlink(patched_path);
	return 0;
}
