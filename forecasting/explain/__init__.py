"""Root causes of outliers: why a warehouse-week blew through its P95 (DoWhy ``gcm``).

``graph`` (the causal graph of a warehouse-week), ``nodes`` (measuring its nodes from the
lake), ``scm`` (mechanisms, outlier scores, Shapley attributions with bootstrap intervals),
``text`` (plain words and alerts), ``stage`` (``explain_lake``: the stage). docs/explain.md.
"""
