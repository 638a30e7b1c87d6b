# scribcim: commands on a fresh clone (each sets up .venv first; data root: $SCRIBCIM_DATA, else ./data).
#   make reproduce   retrain pce and cim (cpu-mm175, seed 2022, one thread each, side by side) on ACDC fold 1, evaluate, draw, all under reproduced/ (OUT=...; never results/ or figures/); print the table and each method beside its committed runs
#   make test        run the test suite
#   make dag         the same main job as a Snakemake DAG of notebook executions (skips runs with a summary)
#   make robustness  the scribble-inconsistency grid (16 quick runs) and its figure, as a DAG
#   make robustness-seeds  the multi-seed grid at fixed coverage (workflow/config.yaml: robustness_seeds) and its report
#   make selection   the CPU profile candidates x 3 seeds (validation decides), then its table
#   make grid        the seed grid of the method comparison (workflow/config.yaml: grid), then its table
#   make comparison  the across-seed tables, the targets, the far-field report and the result tables of README/docs, no training
#   make islands     what the grid's far-field false positives are (needs the grid's run folders under runs/)
#   make error-bands where the budget study's errors lie against `full` (needs its evaluated run folders under
#                    $(RUNS)/, default runs/; RUNS=<clone>/runs reads the lanes' clone)
#   make frame-ceiling what each input geometry costs before any learning (ACDC and MSCMR test volumes), no training
#   make ablation    the batch of the paper's tables (workflow/config.yaml: paper_tables, ablation): cim_paper, the
#                    ablations with their cim and pce_selfdice, the MSCMR baselines; then the ablation table and the batch's comparison
#   make budget      the budget study's tables and learning curves (workflow/config.yaml: budget), no training
#   make budget-runs the budget study's runs (6000 iterations first), then `make budget`
#   make paper       the paper protocol, 5 folds x (pce, cim), on a GPU (workflow/paper.yaml)
#   make figures     redraw every committed figure from committed results (+ data), no training
#   make gpu-carry   what a GPU window carries: the lossless ACDC pack and a medpy wheel (workflow/gpu_window.sh)
#   make lab         JupyterLab at the repository root (the notebooks are in notebooks/); LAB_ARGS="--no-browser ..."
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FOLD   ?= 1
PROFILE ?= cpu-mm175
CORES  ?= 1
SNAKE  := $(BIN)/snakemake -s workflow/Snakefile --cores $(CORES)

TABLES_PROFILE = $(shell $(BIN)/python -c "import yaml; print(yaml.safe_load(open('workflow/config.yaml'))['paper_tables']['profile'])" 2>/dev/null)
GRID_PROFILE = $(shell $(BIN)/python -c "import yaml; print(yaml.safe_load(open('workflow/config.yaml'))['grid']['profile'])" 2>/dev/null || echo cpu-lr03)
LAB_ARGS ?=
# jupyter refuses to run as root without --allow-root (containers, CI machines)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup reproduce test fetch dag robustness robustness-seeds selection grid comparison islands error-bands frame-ceiling ablation budget budget-runs paper figures gpu-carry lab clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

fetch: setup
	$(BIN)/scribcim fetch acdc --if-missing $(if $(FROM),--from $(FROM))

reproduce: setup
	$(BIN)/scribcim reproduce --dataset acdc --fold $(FOLD) --profile $(PROFILE) $(if $(FROM),--from $(FROM)) $(if $(OUT),--out $(OUT))

dag: fetch
	$(SNAKE)

robustness: fetch
	$(SNAKE) robustness

robustness-seeds: fetch
	$(SNAKE) robustness_seeds

selection: fetch
	$(SNAKE) selection
	$(BIN)/python -m scribcim.report.selection

grid: fetch
	$(SNAKE) grid
	$(BIN)/python -m scribcim.report.comparison --profile $(GRID_PROFILE)
	$(BIN)/python -m scribcim.report.targets --profile $(GRID_PROFILE)
	MPLBACKEND=Agg $(BIN)/python -m scribcim.report.far_field --profile $(GRID_PROFILE)
	$(BIN)/python -m scribcim.report.doc_blocks --write

comparison: setup
	$(BIN)/python -m scribcim.report.comparison --profile $(GRID_PROFILE)
	$(BIN)/python -m scribcim.report.targets --profile $(GRID_PROFILE)
	MPLBACKEND=Agg $(BIN)/python -m scribcim.report.far_field --profile $(GRID_PROFILE)
	$(BIN)/python -m scribcim.report.doc_blocks --write

ablation: fetch
	$(BIN)/scribcim fetch mscmr --if-missing $(if $(FROM),--from $(FROM))
	$(SNAKE) paper_tables
	MPLBACKEND=Agg $(BIN)/python -m scribcim.report.ablation_seeds
	$(BIN)/python -m scribcim.report.comparison --profile $(TABLES_PROFILE)

budget: setup
	MPLBACKEND=Agg $(BIN)/python -m scribcim.report.budget

budget-runs: fetch
	$(SNAKE) -P budget_long budget
	MPLBACKEND=Agg $(BIN)/python -m scribcim.report.budget

# the scribble methods of the comparison (dense-label runs have no far field to explain)
ISLAND_METHODS ?= pce pce_selfdice dmpls cim
ISLAND_RUNS = $(sort $(wildcard $(foreach m,$(ISLAND_METHODS),runs/acdc/$(GRID_PROFILE)/$(m)/fold$(FOLD)/seed*)))
islands: setup
	$(if $(ISLAND_RUNS),,$(error no run folders under runs/acdc/$(GRID_PROFILE)/: run `make grid` first))
	MPLBACKEND=Agg $(BIN)/python -m scribcim.analysis.islands $(ISLAND_RUNS) \
	  --out results/acdc/$(GRID_PROFILE)/far_field_islands --figure figures/acdc_$(GRID_PROFILE)_far_field_islands.png

# the budget study's long profile and its methods, evaluated runs only (a run still training has no summary.json)
BANDS_PROFILE = $(shell $(BIN)/python -c "import yaml; print(yaml.safe_load(open('workflow/config.yaml'))['budget']['runs'][0]['profile'])" 2>/dev/null)
BAND_METHODS ?= pce_selfdice dmpls cim cim_paper full
RUNS ?= runs
BAND_RUNS = $(sort $(patsubst %/summary.json,%,$(wildcard $(foreach m,$(BAND_METHODS),$(RUNS)/acdc/$(BANDS_PROFILE)/$(m)/fold$(FOLD)/seed*/summary.json))))
error-bands: setup
	$(if $(BAND_RUNS),,$(error no evaluated run folders under $(RUNS)/acdc/$(BANDS_PROFILE)/: run `make budget-runs` first, or set RUNS=<clone>/runs))
	MPLBACKEND=Agg $(BIN)/python -m scribcim.analysis.error_bands $(BAND_RUNS) \
	  --out results/tables/acdc_$(BANDS_PROFILE)_error_bands --figure figures/acdc_$(BANDS_PROFILE)_error_bands.png

frame-ceiling: fetch
	$(BIN)/scribcim fetch mscmr --if-missing $(if $(FROM),--from $(FROM))
	$(BIN)/python -m scribcim.analysis.frame_ceiling --dataset acdc --fold $(FOLD)
	$(BIN)/python -m scribcim.analysis.frame_ceiling --dataset mscmr --fold $(FOLD)

paper: fetch
	$(SNAKE) --configfile workflow/paper.yaml

gpu-carry: fetch
	$(BIN)/scribcim pack
	$(BIN)/pip wheel --quiet --no-deps -w carry/wheels medpy==$$(grep -o 'medpy==[0-9.]*' pyproject.toml | cut -d= -f3)

figures: setup
	MPLBACKEND=Agg $(BIN)/scribcim figures

lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(LAB_ROOT) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
