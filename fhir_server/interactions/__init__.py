"""FHIR interactions (http.html): plain async functions over a context and plain data.

They never import FastAPI: the HTTP layer and the batch/transaction processor both call them.
"""
