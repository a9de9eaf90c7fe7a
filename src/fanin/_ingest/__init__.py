"""_ingest"""
