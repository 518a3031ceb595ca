import{bn as i}from"./index-DdOdDoYv.js";const e=o=>["",...i].includes(o);export{e as i};
