"""Deployment of LTI students: line-by-line streaming, whole-product focusing, export."""
