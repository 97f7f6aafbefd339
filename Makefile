# The two commands of the README, and a few conveniences. CMake does the building.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
MPI_BUILD ?= build-mpi
# Node.js for the oracle tests: the system's when it is 20 or newer, else one fetched here.
NODE_DIR ?= $(BUILD)/node
ORACLE_NODE = $$(sh .ci/oracle-node $(NODE_DIR))

.PHONY: all deps test-deps build demo test format clean

all: build

deps:
	@sh .ci/install-deps

test-deps:
	@sh .ci/install-deps --test
	@node=$(ORACLE_NODE) && cd tests/oracle && { \
	  { [ -d node_modules/node-llama-cpp ] && cmp -s package-lock.json node_modules/.moescope-lock; } || \
	  { PATH="$$(dirname "$$node"):$$PATH" npm ci --omit=optional --no-audit --no-fund --loglevel=error && \
	    cp package-lock.json node_modules/.moescope-lock; }; }

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The built-in default: builds the demo model, captures the sample corpora, writes a report.
demo: build
	./$(BUILD)/moescope demo --out out/demo

# The whole test suite, on a normal build and again under AddressSanitizer + UBSan.
test: test-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESCOPE_WERROR=ON -DMS_NODE="$(ORACLE_NODE)" >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure --no-tests=error -j $(JOBS) $(CTEST_ARGS)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMOESCOPE_SANITIZE=ON -DMOESCOPE_WERROR=ON -DMS_NODE="$(ORACLE_NODE)" >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure --no-tests=error -j $(JOBS) -LE nosan $(CTEST_ARGS)
	cmake -S . -B $(MPI_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESCOPE_MPI=ON -DMOESCOPE_WERROR=ON -DMS_NODE="$(ORACLE_NODE)" >/dev/null
	cmake --build $(MPI_BUILD) -j $(JOBS) --target moescope
	cd $(MPI_BUILD) && ctest --output-on-failure --no-tests=error -L mpi $(CTEST_ARGS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(MPI_BUILD)
