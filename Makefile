# scribcim: two commands on a fresh clone.
#   make reproduce   train pce and cim (quick profile) on ACDC fold 1, evaluate, print the table
#   make test        run the test suite
# Both set up .venv first (make setup). The data root is $SCRIBCIM_DATA, else ./data.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FOLD   ?= 1
PROFILE ?= quick

.PHONY: setup reproduce test fetch clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

fetch: setup
	$(BIN)/scribcim fetch acdc --if-missing $(if $(FROM),--from $(FROM))

reproduce: setup
	$(BIN)/scribcim reproduce --dataset acdc --fold $(FOLD) --profile $(PROFILE) $(if $(FROM),--from $(FROM))

test: setup
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
