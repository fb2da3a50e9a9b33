"""Data stage: labelled articles -> dataset dir. Entry: `build_dataset(cfg)`."""

from ereignis.data.articles import Article, parse_article
from ereignis.data.build import build_dataset
from ereignis.data.readers import DataError, Record, read_records

__all__ = ["Article", "DataError", "Record", "build_dataset", "parse_article", "read_records"]
